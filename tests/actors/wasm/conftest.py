"""Fixtures for the WASM sandbox tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from incontainer.actors.wasm import WasmSandbox
from incontainer.config import Resources


@pytest.fixture(scope="session")
def wasm_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A compiled-module cache shared by the session, so CPython compiles once."""
    return tmp_path_factory.mktemp("wasm-cache")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    return path


@pytest.fixture
def sandbox(workspace: Path, wasm_cache: Path) -> Iterator[WasmSandbox]:
    """A started sandbox with 64 MiB of memory and no fuel metering."""
    with WasmSandbox(
        workspace, resources=Resources(memory_mb=64), cache_dir=wasm_cache
    ) as box:
        yield box
