"""On-disk cache of compiled (serialized) WASM modules.

Compiling the CPython module takes about 3 s with wasmtime-py 50 and loading
its serialized form about 1 ms, so each node compiles a module once. Entries
are keyed by the SHA-256 of the module bytes plus the engine's cache tag
(wasmtime version, machine, fuel on or off). Each entry is written to a
temporary file in the cache directory and renamed into place, so a reader
never sees a partial entry. A file that does not deserialize is compiled
again and replaced.

NOTE: ``Module.deserialize_file`` trusts its input; the cache directory must
be writable only by this service, never by guests.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import wasmtime

__all__ = ["LoadOutcome", "ModuleCache"]


@dataclass(frozen=True)
class LoadOutcome:
    """The loaded module and whether it was compiled or read from the cache."""

    module: wasmtime.Module
    compiled: bool
    cache_hit: bool
    replaced_corrupt: bool


class ModuleCache:
    """Load modules for one engine, compiling each module once per node."""

    def __init__(self, engine: wasmtime.Engine, cache_dir: Path, tag: str) -> None:
        self._engine = engine
        self._dir = cache_dir
        self._tag = tag
        cache_dir.mkdir(parents=True, exist_ok=True)

    def entry_path(self, sha256: str) -> Path:
        """Return the cache file that contains the compiled form of a module."""
        return self._dir / f"{sha256}-{self._tag}.cwasm"

    def load(self, wasm_path: Path, sha256: str | None = None) -> LoadOutcome:
        """Return the compiled module for ``wasm_path``.

        ``sha256`` is the digest of the file when the caller already verified
        it; otherwise the file is hashed here. Raises wasmtime.WasmtimeError
        when the file is not a valid module.
        """
        data = b""
        if sha256 is None:
            data = wasm_path.read_bytes()
            sha256 = hashlib.sha256(data).hexdigest()
        entry = self.entry_path(sha256)
        replaced = False
        if entry.exists():
            try:
                module = wasmtime.Module.deserialize_file(self._engine, str(entry))
                return LoadOutcome(
                    module, compiled=False, cache_hit=True, replaced_corrupt=False
                )
            except wasmtime.WasmtimeError:
                replaced = True
        module = wasmtime.Module(self._engine, data or wasm_path.read_bytes())
        self._store(entry, module.serialize())
        return LoadOutcome(
            module, compiled=True, cache_hit=False, replaced_corrupt=replaced
        )

    def _store(self, entry: Path, blob: bytes | bytearray) -> None:
        fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=".cwasm", dir=self._dir)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
            os.replace(tmp_name, entry)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
