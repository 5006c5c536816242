"""gVisor backend: native programs in runsc sandboxes, one node actor per node.

``ensure_node_actor`` finds or starts the node actor that owns runsc on a
node; a container actor on that node drives its sandbox through
``GVisorBackend``.
"""

from incontainer.actors.gvisor.backend import SUSPEND_MODES, GVisorBackend
from incontainer.actors.gvisor.bundle import SandboxSpec
from incontainer.actors.gvisor.isolation import (
    CONTROLS,
    IsolationControls,
    controls_for,
    host_pids_limit,
)
from incontainer.actors.gvisor.node import (
    GVISOR_RESOURCE,
    GVisorNodeActor,
    default_data_dir,
    ensure_node_actor,
    list_gvisor_nodes,
    node_actor_name,
)
from incontainer.actors.gvisor.sandbox import Owner

__all__ = [
    "CONTROLS",
    "GVISOR_RESOURCE",
    "SUSPEND_MODES",
    "GVisorBackend",
    "GVisorNodeActor",
    "IsolationControls",
    "Owner",
    "SandboxSpec",
    "controls_for",
    "default_data_dir",
    "ensure_node_actor",
    "host_pids_limit",
    "list_gvisor_nodes",
    "node_actor_name",
]
