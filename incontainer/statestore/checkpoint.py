"""Checkpoints in Redis and progressive restore.

A checkpoint contains a copy of every state value taken by one Lua script (so
all tiers are at one container version), the container's workspace as a tar
stream and, when a hook provides one, a memory image. Streams are stored in
chunks (1 MiB by default) so that any node can read them back. Every chunk
and value is checked against its SHA-1, computed by Redis over the stored
bytes, before the checkpoint is reported done.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from incontainer.errors import CheckpointError, InvalidInputError
from incontainer.statestore._wire import pb
from incontainer.statestore.log import read_log, state_at
from incontainer.statestore.store import RedisStateStore, Tier, container_prefix
from incontainer.statestore.types import SyncEvent

__all__ = ["CheckpointInfo", "RestoreHandle", "create_checkpoint", "restore"]

WORKSPACE_BLOB = "workspace"
MEMORY_BLOB = "memory"
# Keys per restore script call: bounds how long one call blocks Redis.
RESTORE_GROUP = 256
_TIER_FROM_PROTO = {tier.proto: tier for tier in Tier}


@dataclass(frozen=True, slots=True)
class CheckpointInfo:
    """A verified checkpoint: where it is and what it holds."""

    container_id: str
    checkpoint_id: str
    version: int
    created_at: float
    keys: dict[Tier, int]
    state_bytes: int
    workspace_bytes: int | None
    memory_image_bytes: int | None


def _checkpoint_prefix(container_id: str, checkpoint_id: str) -> str:
    return f"{container_prefix(container_id)}ckpt:{checkpoint_id}:"


class _ChunkWriter(io.RawIOBase):
    """Write-only stream that stores fixed-size chunks in Redis as it goes."""

    def __init__(self, store: RedisStateStore, prefix: str, name: str, size: int):
        super().__init__()
        self._store = store
        self._prefix = f"{prefix}blob:{name}:"
        self._chunk_size = size
        self._buffer = bytearray()
        self.blob = pb.CheckpointBlob(name=name, chunk_size=size)
        self._sha256 = hashlib.sha256()
        self.keys: list[str] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = bytes(data)
        self._buffer += view
        while len(self._buffer) >= self._chunk_size:
            self._put(bytes(self._buffer[: self._chunk_size]))
            del self._buffer[: self._chunk_size]
        return len(view)

    def _put(self, chunk: bytes) -> None:
        key = f"{self._prefix}{len(self.keys)}"
        self._store.call(
            "storing a checkpoint chunk", lambda: self._store.client.set(key, chunk)
        )
        self.keys.append(key)
        self.blob.chunk_sha1.append(hashlib.sha1(chunk).hexdigest())
        self.blob.size += len(chunk)
        self._sha256.update(chunk)

    def finish(self) -> Any:
        if self._buffer:
            self._put(bytes(self._buffer))
            self._buffer.clear()
        self.blob.sha256 = self._sha256.hexdigest()
        return self.blob


class _ChunkReader(io.RawIOBase):
    """Read-only stream over a stored blob; checks each chunk's SHA-1."""

    def __init__(self, store: RedisStateStore, prefix: str, blob: Any):
        super().__init__()
        self._store = store
        self._prefix = f"{prefix}blob:{blob.name}:"
        self._blob = blob
        self._index = 0
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        if not self._buffer and self._index < len(self._blob.chunk_sha1):
            self._buffer = self._fetch(self._index)
            self._index += 1
        count = min(len(target), len(self._buffer))
        target[:count] = self._buffer[:count]
        self._buffer = self._buffer[count:]
        return count

    def _fetch(self, index: int) -> bytes:
        key = f"{self._prefix}{index}"
        chunk: bytes | None = self._store.call(
            "reading a checkpoint chunk", lambda: self._store.client.get(key)
        )
        if (
            chunk is None
            or hashlib.sha1(chunk).hexdigest() != self._blob.chunk_sha1[index]
        ):
            raise CheckpointError(
                f"checkpoint chunk {key!r} is missing or does not match its SHA-1",
                container_id="",
                checkpoint_id=self._prefix,
            )
        return chunk


def _tar_workspace(writer: _ChunkWriter, workspace: Path) -> None:
    with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(workspace.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(workspace)), recursive=False)


def _store_memory_image(writer: _ChunkWriter, image: bytes | Path) -> None:
    if isinstance(image, bytes | bytearray | memoryview):
        writer.write(image)
        return
    if not isinstance(image, Path) or not image.is_file():
        raise InvalidInputError(
            f"invalid memory image {image!r} from memory_image_hook: expected "
            "bytes or the Path of an existing file",
            field="memory_image_hook",
            value=image,
        )
    with image.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            writer.write(chunk)


def _check_workspace(workspace: Path | None, *, must_exist: bool) -> Path | None:
    if workspace is None:
        return None
    path = Path(workspace)
    if must_exist and not path.is_dir():
        raise InvalidInputError(
            f"invalid workspace {str(path)!r}: not an existing directory",
            field="workspace",
            value=workspace,
        )
    return path


def create_checkpoint(
    store: RedisStateStore,
    container_id: str,
    *,
    workspace: Path | None,
    memory_image_hook: Callable[[], bytes | Path] | None,
    chunk_size: int,
) -> CheckpointInfo:
    """Store and verify a checkpoint; delete it again if anything fails."""
    workspace = _check_workspace(workspace, must_exist=True)
    if memory_image_hook is not None and not callable(memory_image_hook):
        raise InvalidInputError(
            f"invalid memory_image_hook {memory_image_hook!r}: expected a callable",
            field="memory_image_hook",
            value=memory_image_hook,
        )
    checkpoint_id = uuid.uuid4().hex
    prefix = _checkpoint_prefix(container_id, checkpoint_id)
    try:
        return _build(store, container_id, checkpoint_id, prefix, workspace,
                      memory_image_hook, chunk_size)  # fmt: skip
    except BaseException:
        _delete_prefix(store, prefix)
        raise


def _build(
    store: RedisStateStore,
    container_id: str,
    checkpoint_id: str,
    prefix: str,
    workspace: Path | None,
    memory_image_hook: Callable[[], bytes | Path] | None,
    chunk_size: int,
) -> CheckpointInfo:
    # 1. State: one Lua call copies every value at one version.
    manifest = pb.CheckpointManifest(
        container_id=container_id, checkpoint_id=checkpoint_id, created_at=time.time()
    )
    raw = store.snapshot(container_id, prefix)
    manifest.version = int(raw[0])
    expected: dict[str, str] = {}
    for index in range(1, len(raw), 5):
        key = raw[index].decode()
        entry = manifest.entries.add(
            key=key,
            tier=Tier.from_code(raw[index + 2].decode()).proto,
            version=int(raw[index + 1]),
            size=int(raw[index + 3]),
            sha1=raw[index + 4].decode(),
        )
        expected[f"{prefix}val:{key}"] = entry.sha1

    # 2. Workspace tar and memory image, streamed in chunks.
    blobs: dict[str, _ChunkWriter] = {}
    if workspace is not None:
        blobs[WORKSPACE_BLOB] = _ChunkWriter(store, prefix, WORKSPACE_BLOB, chunk_size)
        _tar_workspace(blobs[WORKSPACE_BLOB], workspace)
    if memory_image_hook is not None:
        blobs[MEMORY_BLOB] = _ChunkWriter(store, prefix, MEMORY_BLOB, chunk_size)
        try:
            image = memory_image_hook()
        except Exception as exc:
            raise CheckpointError(
                f"memory_image_hook failed for container {container_id!r}: {exc}",
                container_id=container_id,
                checkpoint_id=checkpoint_id,
            ) from exc
        _store_memory_image(blobs[MEMORY_BLOB], image)
    for writer in blobs.values():
        blob = writer.finish()
        manifest.blobs.append(blob)
        expected.update(zip(writer.keys, blob.chunk_sha1, strict=True))

    # 3. Verify what Redis stores, then publish the manifest.
    _verify(store, container_id, checkpoint_id, expected)
    data = manifest.SerializeToString()

    def publish() -> None:
        pipe = store.client.pipeline(transaction=True)
        pipe.set(f"{prefix}manifest", data)
        pipe.zadd(
            f"{container_prefix(container_id)}ckpts", {checkpoint_id: manifest.version}
        )
        pipe.execute()

    store.call("publishing a checkpoint", publish)
    return _info(manifest)


def _verify(
    store: RedisStateStore,
    container_id: str,
    checkpoint_id: str,
    expected: dict[str, str],
) -> None:
    names = list(expected)
    for start in range(0, len(names), 256):
        group = names[start : start + 256]
        for name, actual in zip(group, store.sha1_of(group), strict=True):
            if actual != expected[name]:
                raise CheckpointError(
                    f"checkpoint {checkpoint_id} of {container_id!r} failed "
                    f"verification: {name!r} has SHA-1 {actual or '(missing)'}, "
                    f"expected {expected[name]}",
                    container_id=container_id,
                    checkpoint_id=checkpoint_id,
                )


def _info(manifest: Any) -> CheckpointInfo:
    keys = dict.fromkeys(Tier, 0)
    for entry in manifest.entries:
        keys[_TIER_FROM_PROTO[entry.tier]] += 1
    sizes = {blob.name: blob.size for blob in manifest.blobs}
    return CheckpointInfo(
        container_id=manifest.container_id,
        checkpoint_id=manifest.checkpoint_id,
        version=manifest.version,
        created_at=manifest.created_at,
        keys=keys,
        state_bytes=sum(entry.size for entry in manifest.entries),
        workspace_bytes=sizes.get(WORKSPACE_BLOB),
        memory_image_bytes=sizes.get(MEMORY_BLOB),
    )


def _delete_prefix(store: RedisStateStore, prefix: str) -> None:
    pattern = prefix.replace("{", "\\{").replace("}", "\\}") + "*"

    def delete() -> None:
        names = list(store.client.scan_iter(match=pattern, count=500))
        for start in range(0, len(names), 500):
            store.client.delete(*names[start : start + 500])

    store.call("deleting a checkpoint", delete)


def load_manifest(store: RedisStateStore, container_id: str, checkpoint_id: str) -> Any:
    if not isinstance(checkpoint_id, str) or not checkpoint_id.isalnum():
        raise InvalidInputError(
            f"invalid checkpoint id {checkpoint_id!r}",
            field="source",
            value=checkpoint_id,
        )
    key = f"{_checkpoint_prefix(container_id, checkpoint_id)}manifest"
    data = store.call("reading a checkpoint manifest", lambda: store.client.get(key))
    if data is None:
        raise InvalidInputError(
            f"checkpoint {checkpoint_id!r} of container {container_id!r} not found; "
            "list them with list_checkpoints()",
            field="source",
            value=checkpoint_id,
        )
    manifest = pb.CheckpointManifest()
    manifest.ParseFromString(data)
    return manifest


def list_checkpoints(store: RedisStateStore, container_id: str) -> list[CheckpointInfo]:
    key = f"{container_prefix(container_id)}ckpts"
    ids: list[bytes] = store.call(
        "listing checkpoints", lambda: store.client.zrange(key, 0, -1)
    )
    return [_info(load_manifest(store, container_id, raw.decode())) for raw in ids]


# -- restore ------------------------------------------------------------------


@dataclass(eq=False)
class RestoreHandle:
    """Progress of a restore. ``critical_ready`` is set when critical state is
    in Redis; ``wait()`` blocks until everything is restored."""

    container_id: str
    source: str | int
    epoch: int = 0
    critical_ready: threading.Event = field(default_factory=threading.Event)
    phases: list[str] = field(default_factory=list)
    workspace: Path | None = None
    memory_image_path: Path | None = None
    error: BaseException | None = None
    _done: threading.Event = field(default_factory=threading.Event)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> RestoreHandle:
        """Wait until the restore finished; re-raise its error if it failed."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"restore of {self.container_id!r} still running")
        if self.error is not None:
            raise self.error
        return self


def _plan(
    store: RedisStateStore, container_id: str, source: str | int
) -> tuple[str, dict[Tier, list[Any]], Any]:
    """Return the copy source prefix and per-tier restore script arguments."""
    plan: dict[Tier, list[Any]] = {tier: [] for tier in Tier}
    if isinstance(source, str):
        manifest = load_manifest(store, container_id, source)
        for entry in manifest.entries:
            tier = _TIER_FROM_PROTO[entry.tier]
            plan[tier] += [entry.key, tier.code, "c", ""]
        return _checkpoint_prefix(container_id, source), plan, manifest
    from incontainer.statestore import codec

    values = state_at(store, container_id, source)
    tiers = {entry.key: entry.tier for entry in read_log(store, container_id, source)}
    _version, _base, live = store.read_all(container_id)
    for key, value in values.items():
        tier = tiers.get(key) or (live[key].tier if key in live else Tier.CRITICAL)
        plan[tier] += [key, tier.code, "v", codec.pack(value)]
    return "", plan, None


def restore(
    store: RedisStateStore,
    container_id: str,
    source: str | int,
    *,
    workspace: Path | None,
    memory_image_path: Path | None,
    background: bool,
    emit: Callable[[SyncEvent], None],
) -> RestoreHandle:
    """Restore critical state now and the rest afterwards (see RestoreHandle)."""
    if isinstance(source, bool) or not isinstance(source, str | int):
        raise InvalidInputError(
            f"invalid restore source {source!r}: expected a checkpoint id or a version",
            field="source",
            value=source,
        )
    workspace = _check_workspace(workspace, must_exist=False)
    copy_from, plan, manifest = _plan(store, container_id, source)
    handle = RestoreHandle(container_id, source, workspace=workspace)

    # Phase 1: critical state, in the call that starts the new epoch.
    handle.epoch = store.restore_begin(container_id, copy_from, plan[Tier.CRITICAL])
    handle.phases.append("critical")
    handle.critical_ready.set()
    emit(SyncEvent("restore_critical", container_id, version=handle.epoch))

    def rest() -> None:
        try:
            _restore_rest(store, handle, copy_from, plan, manifest, memory_image_path)
        except Exception as exc:
            handle.error = exc
            emit(SyncEvent("failed", container_id, error=exc, detail="restore failed"))
        finally:
            handle._done.set()
        if handle.error is None:
            emit(SyncEvent("restore_complete", container_id, version=handle.epoch))

    if background:
        threading.Thread(target=rest, name="incontainer-restore", daemon=True).start()
    else:
        rest()
        handle.wait()
    return handle


def _groups(arguments: list[Any]) -> Iterator[list[Any]]:
    step = 4 * RESTORE_GROUP
    for start in range(0, len(arguments), step):
        yield arguments[start : start + step]


def _restore_rest(
    store: RedisStateStore,
    handle: RestoreHandle,
    copy_from: str,
    plan: dict[Tier, list[Any]],
    manifest: Any,
    memory_image_path: Path | None,
) -> None:
    for tier in (Tier.OPERATIONAL, Tier.NON_CRITICAL):
        for group in _groups(plan[tier]):
            store.restore_rest(handle.container_id, copy_from, handle.epoch, group)
        handle.phases.append(tier.value)
    blobs = {blob.name: blob for blob in manifest.blobs} if manifest else {}
    if handle.workspace is not None and WORKSPACE_BLOB in blobs:
        _extract_workspace(store, copy_from, blobs[WORKSPACE_BLOB], handle.workspace)
        handle.phases.append("workspace")
    if memory_image_path is not None and MEMORY_BLOB in blobs:
        _write_memory_image(
            store, copy_from, blobs[MEMORY_BLOB], Path(memory_image_path)
        )
        handle.memory_image_path = Path(memory_image_path)
        handle.phases.append("memory")


def _extract_workspace(
    store: RedisStateStore, prefix: str, blob: Any, workspace: Path
) -> None:
    # Extract next to the target, then swap, so a failure leaves the old
    # workspace in place and no partial tree behind.
    workspace.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(
        tempfile.mkdtemp(prefix=f".{workspace.name}.restore-", dir=workspace.parent)
    )
    old = staging.with_name(staging.name + ".old")
    try:
        reader = io.BufferedReader(_ChunkReader(store, prefix, blob), 1 << 20)
        with tarfile.open(fileobj=reader, mode="r|") as tar:
            tar.extractall(staging, filter="data")
        if workspace.exists():
            workspace.rename(old)
        staging.rename(workspace)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def _write_memory_image(
    store: RedisStateStore, prefix: str, blob: Any, target: Path
) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        digest = hashlib.sha256()
        reader = _ChunkReader(store, prefix, blob)
        with os.fdopen(handle, "wb") as out:
            while chunk := reader.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != blob.sha256:
            raise CheckpointError(
                "memory image does not match its SHA-256",
                container_id="",
                checkpoint_id=prefix,
            )
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
