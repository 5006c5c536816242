"""Checkpoints with workspace and memory image; progressive restore."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from incontainer.errors import (
    CheckpointError,
    InvalidInputError,
    StateKeyNotFoundError,
    VersionNotRetainedError,
)
from incontainer.statestore import StateSynchronizer, SyncEvent, Tier

MakeSync = Callable[..., StateSynchronizer]


def _fill_state(sync: StateSynchronizer) -> dict[str, Any]:
    state = {
        "crit": {"step": 3, "pc": [1, 2]},
        "ops": {"queue": ["a", "b"]},
        "cache": {"blob": b"\x00\xff" * 10},
    }
    sync.update_state("c1", "crit", state["crit"])
    sync.update_state("c1", "ops", state["ops"], tier="operational")
    sync.update_state("c1", "cache", state["cache"], tier="non_critical")
    return state


def _fill_workspace(root: Path) -> dict[str, bytes]:
    files = {
        "main.py": b"print('hi')\n",
        "data/big.bin": os.urandom(2_500_000),
        "data/nested/empty.txt": b"",
    }
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return files


def _read_tree(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file()
    }


def test_checkpoint_round_trip(
    sync: StateSynchronizer, tmp_path: Path, raw_redis: redis.Redis
) -> None:
    state = _fill_state(sync)
    workspace = tmp_path / "ws"
    files = _fill_workspace(workspace)
    image = tmp_path / "image.bin"
    image.write_bytes(os.urandom(1_300_000))

    info = sync.checkpoint("c1", workspace=workspace, memory_image_hook=lambda: image)
    assert info.version == 3
    assert info.keys == {Tier.CRITICAL: 1, Tier.OPERATIONAL: 1, Tier.NON_CRITICAL: 1}
    assert info.memory_image_bytes == 1_300_000
    assert info.workspace_bytes is not None
    assert info.workspace_bytes > 2_500_000
    # 1 MiB chunks: the image takes two of them.
    assert raw_redis.exists(f"ic:{{c1}}:ckpt:{info.checkpoint_id}:blob:memory:1") == 1
    assert [c.checkpoint_id for c in sync.list_checkpoints("c1")] == [
        info.checkpoint_id
    ]

    # Change everything, then restore somewhere else.
    sync.update_state("c1", "crit", {"step": 99})
    sync.update_state("c1", "extra", 1)
    (workspace / "main.py").write_text("changed")
    target = tmp_path / "restored-ws"
    image_out = tmp_path / "out" / "image.bin"
    handle = sync.restore(
        "c1", info.checkpoint_id, workspace=target, memory_image_path=image_out
    )
    handle.wait(60)
    assert sync.get_state("c1") == state
    assert _read_tree(target) == files
    assert (target / "data" / "nested").is_dir()
    assert image_out.read_bytes() == image.read_bytes()
    assert [p.name for p in tmp_path.iterdir() if ".restore-" in p.name] == []
    assert handle.epoch == 6


def test_restore_replaces_existing_workspace(
    sync: StateSynchronizer, tmp_path: Path
) -> None:
    workspace = tmp_path / "ws"
    files = _fill_workspace(workspace)
    info = sync.checkpoint("c1", workspace=workspace)
    (workspace / "stray.txt").write_text("not in checkpoint")
    sync.restore("c1", info.checkpoint_id, workspace=workspace, background=False)
    assert _read_tree(workspace) == files


def test_memory_image_from_bytes(sync: StateSynchronizer, tmp_path: Path) -> None:
    info = sync.checkpoint("c1", memory_image_hook=lambda: b"page" * 1000)
    assert info.workspace_bytes is None
    out = tmp_path / "mem"
    sync.restore("c1", info.checkpoint_id, memory_image_path=out, background=False)
    assert out.read_bytes() == b"page" * 1000


def test_progressive_restore_order(
    sync: StateSynchronizer, make_sync: MakeSync, tmp_path: Path
) -> None:
    _fill_state(sync)
    workspace = tmp_path / "ws"
    _fill_workspace(workspace)
    info = sync.checkpoint("c1", workspace=workspace, memory_image_hook=lambda: b"m")
    sync.update_state("c1", "crit", {"step": 100})

    observer = make_sync()
    seen_at_critical: dict[str, Any] = {}
    kinds: list[str] = []

    def on_event(event: SyncEvent) -> None:
        kinds.append(event.kind)
        if event.kind == "restore_critical":
            # Runs before the rest of the restore starts.
            seen_at_critical.update(observer.get_state("c1"))

    sync.add_listener(on_event)
    handle = sync.restore(
        "c1",
        info.checkpoint_id,
        workspace=tmp_path / "out",
        memory_image_path=tmp_path / "m",
    )
    assert handle.critical_ready.is_set()
    assert observer.get_state("c1", "crit") == {"step": 3, "pc": [1, 2]}
    handle.wait(60)
    assert seen_at_critical == {"crit": {"step": 3, "pc": [1, 2]}}
    assert handle.phases == [
        "critical",
        "operational",
        "non_critical",
        "workspace",
        "memory",
    ]
    restore_events = [k for k in kinds if k.startswith("restore")]
    assert restore_events == ["restore_critical", "restore_complete"]


def test_write_during_restore_is_kept(
    sync: StateSynchronizer, make_sync: MakeSync
) -> None:
    _fill_state(sync)
    info = sync.checkpoint("c1")
    writer = make_sync()
    writer.initialize_sync("c1")

    def on_event(event: SyncEvent) -> None:
        if event.kind == "restore_critical":
            # A non-critical key written before its tier is restored.
            writer.update_state("c1", "cache", {"fresh": True}, tier="non_critical")
            writer.flush()

    sync.add_listener(on_event)
    sync.restore("c1", info.checkpoint_id).wait(60)
    assert sync.get_state("c1", "cache") == {"fresh": True}
    assert sync.get_state("c1", "ops") == {"queue": ["a", "b"]}


def test_restore_conflicts_stale_writers(
    sync: StateSynchronizer, make_sync: MakeSync
) -> None:
    sync.update_state("c1", "crit", 1)
    info = sync.checkpoint("c1")
    other = make_sync()
    other.initialize_sync("c1")
    other.get_state("c1", "crit")
    sync.restore("c1", info.checkpoint_id).wait(60)
    entry = sync.get_entry("c1", "crit")
    assert entry.version == 2
    assert entry.value == 1
    with pytest.raises(VersionNotRetainedError):
        sync.get_state("c1", version=1)


def test_restore_to_log_version(sync: StateSynchronizer) -> None:
    sync.update_state("c1", "a", {"n": 1})
    sync.update_state("c1", "b", "keep", tier="operational")
    sync.flush()
    sync.update_state("c1", "a", {"n": 2})
    sync.update_state("c1", "c", 3)
    sync.restore("c1", 2, background=False)
    assert sync.get_state("c1") == {"a": {"n": 1}, "b": "keep"}
    assert sync.get_entry("c1", "b").tier is Tier.OPERATIONAL


def test_checkpoint_of_missing_workspace(
    sync: StateSynchronizer, tmp_path: Path, raw_redis: redis.Redis
) -> None:
    sync.update_state("c1", "a", 1)
    with pytest.raises(InvalidInputError) as caught:
        sync.checkpoint("c1", workspace=tmp_path / "absent")
    assert caught.value.field == "workspace"
    assert raw_redis.keys("ic:{c1}:ckpt*") == []


def test_failing_hook_leaves_no_checkpoint(
    sync: StateSynchronizer, tmp_path: Path, raw_redis: redis.Redis
) -> None:
    sync.update_state("c1", "a", 1)
    workspace = tmp_path / "ws"
    _fill_workspace(workspace)

    def hook() -> bytes:
        raise OSError("checkpoint of the sandbox failed")

    with pytest.raises(CheckpointError, match="sandbox failed") as caught:
        sync.checkpoint("c1", workspace=workspace, memory_image_hook=hook)
    assert isinstance(caught.value.__cause__, OSError)
    assert raw_redis.keys("ic:{c1}:ckpt*") == []


def test_corrupt_chunk_detected_on_restore(
    sync: StateSynchronizer, tmp_path: Path, raw_redis: redis.Redis
) -> None:
    info = sync.checkpoint("c1", memory_image_hook=lambda: b"x" * 5000)
    raw_redis.set(f"ic:{{c1}}:ckpt:{info.checkpoint_id}:blob:memory:0", b"y" * 5000)
    out = tmp_path / "mem"
    with pytest.raises(CheckpointError):
        sync.restore("c1", info.checkpoint_id, memory_image_path=out, background=False)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == []


def test_unknown_checkpoint(sync: StateSynchronizer) -> None:
    with pytest.raises(InvalidInputError) as caught:
        sync.restore("c1", "0123abcd")
    assert "not found" in str(caught.value)
    with pytest.raises(StateKeyNotFoundError):
        sync.get_state("c1", "a")
