"""The per-node actor that owns runsc: sandboxes, their locks and the reaper.

One ``GVisorNodeActor`` runs on each Ray node that has runsc and advertises
the custom resource ``gvisor``. It is a threaded actor, so a long execution
does not hold up calls for other sandboxes. Container actors on the same node
reach it through ``GVisorBackend``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from incontainer.actors.backend import GUEST_WORKSPACE
from incontainer.actors.gvisor import cgroups
from incontainer.actors.gvisor import sandbox as sandboxes
from incontainer.actors.gvisor.bundle import SandboxSpec, check_sandbox_id, write_bundle
from incontainer.actors.gvisor.process import ChildReaper
from incontainer.actors.gvisor.runsc import Runsc, RunscError
from incontainer.actors.gvisor.sandbox import Owner, Sandbox, read_record
from incontainer.config import ExecResult
from incontainer.errors import (
    BackendUnavailableError,
    ContainerNotFoundError,
    InvalidInputError,
    InvalidStateError,
)

__all__ = [
    "DEFAULT_OUTPUT_CAP",
    "GVISOR_RESOURCE",
    "GVisorNodeActor",
    "default_data_dir",
    "ensure_node_actor",
    "list_gvisor_nodes",
    "node_actor_name",
    "owner_alive",
]

logger = logging.getLogger(__name__)

DEFAULT_OUTPUT_CAP = 1024 * 1024
DEFAULT_GRACE_S = 2.0


def default_data_dir() -> Path:
    """Return $XDG_DATA_HOME/incontainer/gvisor (~/.local/share by default)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return Path(base) / "incontainer" / "gvisor"


# Ray's actor_table() returns an empty entry for an unknown actor, and a
# lookup that fails may look the same, which would reap a live owner's
# sandbox in the middle of an execution. An owner counts as gone only after
# this many lookups find nothing.
# NOTE: suspected, not confirmed, cause of rare "stopped during the
# execution" failures under load.
_OWNER_LOOKUPS = 3
_OWNER_LOOKUP_PAUSE_S = 0.5


def owner_alive(owner: Owner) -> bool | None:
    """Return whether the owning actor or job is alive; None if unknown.

    Asks the GCS directly because the state API needs the dashboard, which
    the product starts without.
    """
    import ray
    from ray._private import state

    if not ray.is_initialized():
        return None
    try:
        if owner.kind == "actor":
            for attempt in range(_OWNER_LOOKUPS):
                info = state.state.actor_table(owner.id)
                if info:
                    return bool(info.get("State") != "DEAD")
                if attempt + 1 < _OWNER_LOOKUPS:
                    time.sleep(_OWNER_LOOKUP_PAUSE_S)
            # An actor the GCS does not know (for example after a cluster
            # restart) cannot come back.
            return False
        if owner.kind == "job":
            table = state.state.job_table()  # type: ignore[no-untyped-call]
            jobs = {job["JobID"]: job for job in table}
            job = jobs.get(owner.id)
            return job is not None and not job.get("IsDead", False)
    except Exception:  # the GCS client raises several unrelated types
        logger.warning("checking owner %s %s failed", owner.kind, owner.id)
        return None
    return False


class GVisorNodeActor:
    """Owns the runsc root, the bundles and every sandbox on one node.

    ``data_dir`` holds ``root/`` (runsc state) and ``bundles/<container>``.
    ``reap_interval_s`` sets how often sandboxes of dead owners are reaped.
    0 turns the background thread off, and ``reap`` can still be called.
    """

    def __init__(
        self,
        data_dir: str | None = None,
        *,
        reap_interval_s: float = 10.0,
        sandbox_network: bool = False,
        runsc_binary: str | None = None,
    ):
        if not isinstance(reap_interval_s, int | float) or reap_interval_s < 0:
            raise InvalidInputError(
                f"invalid reap_interval_s {reap_interval_s!r}: expected seconds >= 0",
                field="reap_interval_s",
                value=reap_interval_s,
            )

        self.data_dir = Path(data_dir) if data_dir else default_data_dir()
        self.bundles = self.data_dir / "bundles"
        for directory in (self.data_dir, self.data_dir / "root", self.bundles):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.runsc = Runsc(self.data_dir / "root", binary=runsc_binary)
        digest = hashlib.sha256(str(self.data_dir.resolve()).encode()).hexdigest()
        # One cgroup parent per data directory, so a reaper touches only the
        # cgroups of its own sandboxes.
        self.cgroup_parent = f"/incontainer/{digest[:12]}"
        self.sandbox_network = sandbox_network

        self._sandboxes: dict[str, Sandbox] = {}
        self._lock = threading.Lock()
        self._reap_lock = threading.Lock()
        self._stopping = threading.Event()
        self._child_reaper = ChildReaper()
        self._child_reaper.start()
        self.reap()
        self._reaper: threading.Thread | None = None
        if reap_interval_s > 0:
            self._reaper = threading.Thread(
                target=self._reap_loop,
                args=(reap_interval_s,),
                name="gvisor-sandbox-reaper",
                daemon=True,
            )
            self._reaper.start()

    def __repr__(self) -> str:
        with self._lock:
            count = len(self._sandboxes)
        return f"<GVisorNodeActor data_dir={str(self.data_dir)!r} sandboxes={count}>"

    # Lifecycle of one sandbox.

    def create(self, spec: SandboxSpec, owner: Owner) -> dict[str, Any]:
        """Write the bundle of ``spec`` and start its sandbox."""
        if not isinstance(spec, SandboxSpec) or not isinstance(owner, Owner):
            raise InvalidInputError(
                "invalid create request: expected a SandboxSpec and an Owner",
                field="spec",
                value=type(spec).__name__,
            )
        cid = spec.container_id
        record = Sandbox(
            container_id=cid,
            bundle=self.bundles / cid,
            network=spec.controls.network,
            cgroups_path=f"{self.cgroup_parent}/{cid}",
            memory_mb=spec.resources.memory_mb,
            owner=owner,
        )
        with self._lock:
            if cid in self._sandboxes or record.bundle.exists():
                raise InvalidStateError(
                    f"container {cid!r} already has a sandbox on this node; close "
                    "it before creating another",
                    container_id=cid,
                    state=self._sandboxes[cid].status if cid in self._sandboxes else "",
                    operation="create",
                )
            self._sandboxes[cid] = record
        try:
            with record.lock:
                write_bundle(record.bundle, spec, cgroups_path=record.cgroups_path)
                record.write_record()
                sandboxes.create_and_start(self.runsc, record)
        except BaseException:
            record.status = "terminating"
            self._finish_removal(record)
            raise
        return record.snapshot()

    def execute(
        self,
        container_id: str,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str = GUEST_WORKSPACE,
        timeout_s: float | None = None,
        output_cap: int = DEFAULT_OUTPUT_CAP,
    ) -> ExecResult:
        """Run ``argv`` in the container's sandbox and return its result."""
        record = self._get(container_id)
        return sandboxes.execute(
            self.runsc,
            record,
            argv,
            stdin=stdin,
            env=dict(env or {}),
            cwd=cwd,
            timeout_s=timeout_s,
            output_cap=output_cap,
        )

    def pause(self, container_id: str) -> None:
        record = self._get(container_id)
        with record.lock:
            sandboxes.pause(self.runsc, record)

    def resume(self, container_id: str) -> None:
        record = self._get(container_id)
        with record.lock:
            sandboxes.resume(self.runsc, record)

    def checkpoint(self, container_id: str) -> str:
        """Checkpoint and stop the sandbox; return the image directory."""
        record = self._get(container_id)
        with record.lock:
            return str(sandboxes.checkpoint(self.runsc, record))

    def restore(self, container_id: str, image: str) -> None:
        record = self._get(container_id)
        image_path = Path(image)
        if image_path.parent != record.bundle:
            raise InvalidInputError(
                f"invalid checkpoint image {image!r}: not an image of container "
                f"{container_id!r} on this node",
                field="image",
                value=image,
            )
        with record.lock:
            sandboxes.restore(self.runsc, record, image_path)

    def destroy(self, container_id: str, grace_s: float = DEFAULT_GRACE_S) -> list[str]:
        """Stop and remove the sandbox; safe to call for an unknown container.

        Guest processes get SIGTERM and up to ``grace_s`` seconds before they
        are killed. Returns what could not be removed yet; the reaper retries
        those until they are gone.
        """
        with self._lock:
            record = self._sandboxes.get(container_id)
        if record is None:
            return []
        # Marked before taking the lock so a running execution reports the
        # close instead of a crash.
        previous = record.status
        record.status = "terminating"
        with record.lock:
            if previous == "running":
                sandboxes.stop_gracefully(self.runsc, record, grace_s)
            return self._finish_removal(record)

    def status(self, container_id: str) -> dict[str, Any]:
        """Return the sandbox's status, with a limit hit since the last call."""
        record = self._get(container_id)
        if record.status == "running" and record.running_execs == 0:
            limit = cgroups.limit_hit(record.cgroups_path)
            if limit is not None:
                sandboxes.mark_failed(self.runsc, record, limit)
        return record.snapshot()

    # Node-wide views.

    def load(self) -> dict[str, Any]:
        """Return the node's load: sandboxes, reserved memory and executions."""
        with self._lock:
            records = list(self._sandboxes.values())
        live = [r for r in records if r.status in ("running", "paused", "creating")]
        return {
            "sandboxes": len(records),
            "memory_reserved_mb": sum(r.memory_mb for r in live),
            "running_execs": sum(r.running_execs for r in records),
        }

    def list_sandboxes(self) -> list[dict[str, Any]]:
        with self._lock:
            records = list(self._sandboxes.values())
        return [r.snapshot() for r in records]

    def info(self) -> dict[str, Any]:
        """Return where this actor keeps its state and how it reaps."""
        return {
            "data_dir": str(self.data_dir),
            "runsc_root": str(self.runsc.root),
            "runsc": self.runsc.binary,
            "bundles": str(self.bundles),
            "cgroup_parent": self.cgroup_parent,
            "cgroup_version": cgroups.cgroup_version(),
            "subreaper": self._child_reaper.enabled,
            "pid": os.getpid(),
        }

    def ping(self) -> bool:
        return True

    def close_all(self, grace_s: float = 0.0) -> list[str]:
        """Destroy every sandbox on this node; return what is left over."""
        with self._lock:
            ids = list(self._sandboxes)
        left = []
        for cid in ids:
            left += self.destroy(cid, grace_s)
        self._remove_idle_cgroup_parent()
        return left

    # Reaping.

    def reap(self) -> list[str]:
        """Remove sandboxes whose owner is gone and leftovers on disk.

        Leftovers are bundles, runsc containers and cgroups of this data
        directory that no registered sandbox claims. A leftover whose owner
        is still alive and whose sandbox still runs is adopted instead, so a
        restarted node actor keeps serving it. Returns the removed ids.
        """
        with self._reap_lock:
            removed = self._reap_registered()
            removed += self._reap_unregistered()
            self._remove_idle_cgroup_parent()
        if removed:
            logger.info("reaped gVisor sandboxes: %s", ", ".join(sorted(removed)))
        return removed

    def _reap_registered(self) -> list[str]:
        with self._lock:
            records = list(self._sandboxes.values())
        removed = []
        for record in records:
            if record.status == "creating":
                continue
            if record.status == "terminating" or owner_alive(record.owner) is False:
                record.status = "terminating"
                with record.lock:
                    if not self._finish_removal(record):
                        removed.append(record.container_id)
        return removed

    def _reap_unregistered(self) -> list[str]:
        names = {p.name for p in self.bundles.iterdir() if p.is_dir()}
        try:
            names.update(self.runsc.list_ids())
        except RunscError:
            logger.exception("listing runsc containers in %s failed", self.runsc.root)
        names.update(cgroups.child_names(self.cgroup_parent))
        removed = []
        for name in sorted(names):
            with self._lock:
                if name in self._sandboxes:
                    continue
                record = self._leftover(name)
                if record.status != "terminating":
                    self._sandboxes[name] = record
                    logger.info("adopted sandbox %s (%s)", name, record.status)
                    continue
            if not self._finish_removal(record):
                removed.append(name)
        return removed

    def _leftover(self, name: str) -> Sandbox:
        """Rebuild the record of an unregistered sandbox, marked for removal
        unless its owner is alive and the sandbox can still serve it."""
        record = read_record(self.bundles / name)
        if record is None:
            return Sandbox(
                container_id=name,
                bundle=self.bundles / name,
                network="none",
                cgroups_path=f"{self.cgroup_parent}/{name}",
                memory_mb=0,
                owner=Owner("unknown", ""),
                status="terminating",
            )
        record.status = "terminating"
        try:
            check_sandbox_id(name)
            status = self.runsc.status(name)
        except (RunscError, InvalidInputError):
            return record
        images = sorted(record.bundle.glob("image-*/checkpoint.img"))
        if status == "missing" and images:
            record.image, status = images[-1].parent, "checkpointed"
        if status in ("running", "paused", "checkpointed") and owner_alive(
            record.owner
        ):
            record.status = status
        return record

    def _finish_removal(self, record: Sandbox) -> list[str]:
        try:
            left = sandboxes.remove(self.runsc, record)
        except (OSError, RunscError) as exc:
            left = [str(exc)]
        if left:
            logger.warning(
                "sandbox %s not fully removed yet: %s", record.container_id, left
            )
            return left
        with self._lock:
            if self._sandboxes.get(record.container_id) is record:
                del self._sandboxes[record.container_id]
        return []

    def _remove_idle_cgroup_parent(self) -> None:
        # runsc creates the parent cgroups but removes only the leaf. Under
        # the registry lock no create can be between registering a sandbox
        # and runsc making its cgroup.
        with self._lock:
            if not self._sandboxes:
                cgroups.remove_empty_parents(self.cgroup_parent)

    def _reap_loop(self, interval_s: float) -> None:
        while not self._stopping.wait(interval_s):
            try:
                self.reap()
            except Exception:  # keep reaping whatever one pass hit
                logger.exception("reaping gVisor sandboxes failed")

    def _get(self, container_id: str) -> Sandbox:
        with self._lock:
            record = self._sandboxes.get(container_id)
        if record is None:
            raise ContainerNotFoundError(container_id)
        return record

    def stop_background(self) -> None:
        """Stop the reaper threads (for embedding outside Ray, and tests)."""
        self._stopping.set()
        if self._reaper is not None:
            self._reaper.join()
        self._child_reaper.stop()


# The custom resource a node advertises when runsc is installed on it.
GVISOR_RESOURCE = "gvisor"
# Each node actor requests this much of it, so many fit on a node that
# advertises, for example, gvisor=1000 and placement still needs runsc.
_RESOURCE_SHARE = 0.001
# Threads of the node actor: executions run side by side up to this count.
NODE_ACTOR_CONCURRENCY = 64


def node_actor_name(node_id: str) -> str:
    return f"incontainer-gvisor-{node_id}"


def list_gvisor_nodes() -> list[str]:
    """Return the ids of alive Ray nodes that advertise the gvisor resource."""
    import ray

    return [
        node["NodeID"]
        for node in ray.nodes()  # type: ignore[no-untyped-call]
        if node.get("Alive") and node.get("Resources", {}).get(GVISOR_RESOURCE, 0) > 0
    ]


def ensure_node_actor(
    node_id: str | None = None,
    *,
    data_dir: str | None = None,
    reap_interval_s: float = 10.0,
) -> Any:
    """Return the node actor of ``node_id`` (default: this node), starting it.

    The actor is named and detached in the caller's Ray namespace and pinned
    to its node. ``data_dir`` and ``reap_interval_s`` apply only when this
    call starts it. Raises BackendUnavailableError when the node does not
    advertise the gvisor resource.
    """
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    if node_id is None:
        node_id = ray.get_runtime_context().get_node_id()
    if not isinstance(node_id, str) or not node_id:
        raise InvalidInputError(
            f"invalid node_id {node_id!r}: expected a Ray node id (hex string)",
            field="node_id",
            value=node_id,
        )
    if node_id not in list_gvisor_nodes():
        raise BackendUnavailableError(
            f"Ray node {node_id} does not advertise the {GVISOR_RESOURCE!r} resource",
            program="runsc",
            hint="install runsc on the node and start Ray with "
            f"--resources='{{\"{GVISOR_RESOURCE}\": 1000}}'",
        )
    actor_class: Any = ray.remote(GVisorNodeActor)
    handle = actor_class.options(
        name=node_actor_name(node_id),
        get_if_exists=True,
        lifetime="detached",
        num_cpus=0,
        resources={GVISOR_RESOURCE: _RESOURCE_SHARE},
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
        max_concurrency=NODE_ACTOR_CONCURRENCY,
        max_restarts=-1,
    ).remote(data_dir, reap_interval_s=reap_interval_s)
    # The constructor reaps leftovers; wait so callers see a clean node.
    ray.get(handle.ping.remote())
    return handle
