"""Three-tier container state on Redis with JSON Patch sync and checkpoints.

Start with ``create_state_synchronizer(redis_url)``; the JSON Patch helpers
(``make_patch``, ``apply_patch``, ``json_equal``) work without Redis.
"""

from incontainer.statestore.checkpoint import CheckpointInfo, RestoreHandle
from incontainer.statestore.conflicts import (
    ConflictStrategy,
    MergeResult,
    three_way_merge,
)
from incontainer.statestore.jsonpatch import apply_patch, json_equal, make_patch
from incontainer.statestore.log import LogEntry
from incontainer.statestore.queue import Backoff
from incontainer.statestore.store import Tier
from incontainer.statestore.synchronizer import (
    ResolveResult,
    StateSynchronizer,
    create_state_synchronizer,
)
from incontainer.statestore.types import (
    StateEntry,
    SyncEvent,
    SynchronizerConfig,
    SyncStatistics,
    UpdateResult,
)

__all__ = [
    "Backoff",
    "CheckpointInfo",
    "ConflictStrategy",
    "LogEntry",
    "MergeResult",
    "ResolveResult",
    "RestoreHandle",
    "StateEntry",
    "StateSynchronizer",
    "SyncEvent",
    "SyncStatistics",
    "SynchronizerConfig",
    "Tier",
    "UpdateResult",
    "apply_patch",
    "create_state_synchronizer",
    "json_equal",
    "make_patch",
    "three_way_merge",
]
