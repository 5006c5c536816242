"""The compiled-module cache and temporary-file hygiene."""

from __future__ import annotations

import tempfile
from pathlib import Path

from incontainer.actors.wasm import WasmSandbox
from incontainer.config import Resources


def run_echo(workspace: Path, cache: Path) -> dict[str, object]:
    with WasmSandbox(workspace, resources=Resources(), cache_dir=cache) as box:
        assert box.execute("echo", ["hi"]).stdout == b"hi\n"
        return dict(box.statistics())


def test_second_sandbox_does_not_compile(workspace: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = run_echo(workspace, cache)
    second = run_echo(workspace, cache)
    assert first["modules_compiled"] == 1
    assert first["cache_hits"] == 0
    assert second["modules_compiled"] == 0
    assert second["cache_hits"] == 1
    entries = list(cache.iterdir())
    assert len(entries) == 1
    assert entries[0].suffix == ".cwasm"


def test_fuel_engine_has_own_entry(workspace: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    run_echo(workspace, cache)
    with WasmSandbox(
        workspace, resources=Resources(fuel=10**6), cache_dir=cache
    ) as box:
        assert box.execute("echo", ["hi"]).stdout == b"hi\n"
        assert box.statistics()["modules_compiled"] == 1
    names = sorted(p.name for p in cache.iterdir())
    assert len(names) == 2
    assert any("fuel1" in name for name in names)
    assert any("fuel0" in name for name in names)


def test_corrupt_entry_is_replaced(workspace: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    run_echo(workspace, cache)
    (entry,) = cache.iterdir()
    good_size = entry.stat().st_size
    entry.write_bytes(b"not a compiled module")
    stats = run_echo(workspace, cache)
    assert stats["cache_replaced"] == 1
    assert stats["modules_compiled"] == 1
    assert entry.stat().st_size == good_size
    assert run_echo(workspace, cache)["cache_hits"] == 1


def test_no_temp_files_left(workspace: Path, wasm_cache: Path) -> None:
    temp_dir = Path(tempfile.gettempdir())
    temp_before = set(temp_dir.iterdir())
    cache_before = set(wasm_cache.iterdir())
    parent_before = set(workspace.parent.iterdir())
    with WasmSandbox(workspace, resources=Resources(), cache_dir=wasm_cache) as box:
        box.execute(
            "python", ["-c", "import sys; print(sys.stdin.read())"], stdin=b"in"
        )
        box.execute("sha256sum", [], stdin=b"x" * 100000)
        snap = box.suspend()
        box.resume(snap)
    # Other processes may create files in the shared temp dir meanwhile, so
    # only names containing this product's prefixes count.
    new_temp = {p.name for p in set(temp_dir.iterdir()) - temp_before}
    assert not {n for n in new_temp if "incontainer" in n or n.startswith(".tmp-")}
    new_cache = set(wasm_cache.iterdir()) - cache_before
    assert not [p for p in new_cache if p.name.startswith(".tmp-")]
    assert set(workspace.parent.iterdir()) == parent_before
