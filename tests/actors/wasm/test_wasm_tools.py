"""The builtin WASI tools against their GNU counterparts on the same input."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from incontainer.actors.wasm import TOOLS_DIR, WasmSandbox
from incontainer.actors.wasm.tools.build import build_all, find_clang, tool_sources

# A text file every Debian system ships (package base-files).
GPL = Path("/usr/share/common-licenses/GPL-3")
NUMBERS = b"10\n-3\n  7\n2.5\n-3\nabc\n007\n\n-0.5\n1e3\n100\n2.50\n"


@pytest.fixture
def texts(workspace: Path) -> Path:
    if not GPL.is_file():
        pytest.skip("base-files not installed: /usr/share/common-licenses/GPL-3")
    shutil.copy(GPL, workspace / "GPL-3")
    (workspace / "numbers.txt").write_bytes(NUMBERS)
    (workspace / "noeol.txt").write_bytes(b"b\na\na\nc")
    return workspace


def run_gnu(
    workspace: Path, argv: list[str], stdin: bytes | None
) -> subprocess.CompletedProcess[bytes]:
    program = shutil.which(argv[0])
    if program is None:
        pytest.skip(f"{argv[0]} not installed")
    return subprocess.run(
        [program, *argv[1:]],
        cwd=workspace,
        input=stdin if stdin is not None else b"",
        capture_output=True,
        env={"LC_ALL": "C", "PATH": os.environ.get("PATH", "")},
        check=False,
    )


CASES = [
    ["cat", "GPL-3", "noeol.txt"],
    ["wc", "GPL-3"],
    ["wc", "-l", "GPL-3"],
    ["wc", "-w", "-c", "GPL-3", "numbers.txt"],
    ["head", "GPL-3"],
    ["head", "-n", "3", "GPL-3", "numbers.txt"],
    ["head", "-c", "100", "GPL-3"],
    ["tail", "GPL-3"],
    ["tail", "-n", "7", "noeol.txt"],
    ["tail", "-n", "+670", "GPL-3"],
    ["tail", "-c", "50", "GPL-3"],
    ["grep", "GNU", "GPL-3"],
    ["grep", "-c", "the", "GPL-3"],
    ["grep", "-i", "-n", "licen.e", "GPL-3"],
    ["grep", "-v", "-c", "e", "GPL-3"],
    ["grep", "-F", "-i", "gnu", "GPL-3"],
    ["grep", "-E", "^ +[0-9]+\\.", "GPL-3"],
    ["grep", "-n", "a", "GPL-3", "noeol.txt"],
    ["sort", "GPL-3"],
    ["sort", "-r", "GPL-3"],
    ["sort", "-u", "GPL-3"],
    ["sort", "-n", "numbers.txt"],
    ["sort", "-rn", "numbers.txt"],
    ["sort", "-nu", "numbers.txt"],
    ["sort", "noeol.txt"],
    ["uniq", "noeol.txt"],
    ["uniq", "-c", "numbers.txt"],
    ["sha256sum", "GPL-3", "numbers.txt"],
    ["echo", "-n", "a", "b"],
    ["echo", "-e", "tab\\there", "x"],
    ["ls"],
    ["ls", "-a", "."],
]


@pytest.mark.parametrize("argv", CASES, ids=[" ".join(c) for c in CASES])
def test_tool_matches_gnu(sandbox: WasmSandbox, texts: Path, argv: list[str]) -> None:
    expected = run_gnu(texts, argv, None)
    result = sandbox.execute(argv[0], argv[1:])
    assert result.stdout == expected.stdout
    assert result.exit_code == expected.returncode


STDIN_CASES = [
    ["cat"],
    ["wc"],
    ["wc", "-l"],
    ["head", "-n", "2"],
    ["tail", "-n", "2"],
    ["grep", "-c", "GNU"],
    ["sort", "-r"],
    ["uniq", "-c"],
    ["sha256sum"],
    ["tee"],
]


@pytest.mark.parametrize("argv", STDIN_CASES, ids=[" ".join(c) for c in STDIN_CASES])
def test_tool_reads_stdin(sandbox: WasmSandbox, texts: Path, argv: list[str]) -> None:
    data = GPL.read_bytes()
    expected = run_gnu(texts, argv, data)
    result = sandbox.execute(argv[0], argv[1:], stdin=data)
    assert result.stdout == expected.stdout
    assert result.exit_code == expected.returncode


ERROR_CASES = [
    ["cat", "missing.txt"],
    ["wc", "missing.txt"],
    ["grep", "x", "missing.txt"],
    ["grep", "no such text anywhere", "GPL-3"],
    ["grep", "a\\{1", "GPL-3"],
    ["sha256sum", "missing.txt"],
    ["head", "-n", "x", "GPL-3"],
    ["ls", "missing"],
    ["false"],
]


@pytest.mark.parametrize("argv", ERROR_CASES, ids=[" ".join(c) for c in ERROR_CASES])
def test_tool_exit_code_matches_gnu(
    sandbox: WasmSandbox, texts: Path, argv: list[str]
) -> None:
    expected = run_gnu(texts, argv, None)
    result = sandbox.execute(argv[0], argv[1:])
    assert result.exit_code == expected.returncode
    assert expected.returncode != 0
    assert bool(result.stderr) == bool(expected.stderr)


def test_echo_hello_world(sandbox: WasmSandbox) -> None:
    result = sandbox.execute("echo", ["Hello", "World"])
    assert result.stdout == b"Hello World\n"
    assert result.exit_code == 0
    assert result.backend == "wasm"


def test_tee_writes_relative_file(sandbox: WasmSandbox, workspace: Path) -> None:
    result = sandbox.execute("tee", ["out.txt"], stdin=b"one\n")
    assert result.stdout == b"one\n"
    assert (workspace / "out.txt").read_bytes() == b"one\n"
    sandbox.execute("tee", ["-a", "out.txt"], stdin=b"two\n")
    assert (workspace / "out.txt").read_bytes() == b"one\ntwo\n"


def test_rm_removes_file(sandbox: WasmSandbox, workspace: Path) -> None:
    (workspace / "gone.txt").write_text("x")
    assert sandbox.execute("rm", ["gone.txt"]).exit_code == 0
    assert not (workspace / "gone.txt").exists()


def test_sleep_and_true(sandbox: WasmSandbox) -> None:
    assert sandbox.execute("sleep", ["0.01"]).exit_code == 0
    assert sandbox.execute("true", []).exit_code == 0
    assert sandbox.execute("sleep", ["x"]).exit_code == 1


def test_committed_tools_are_current() -> None:
    if find_clang() is None:
        pytest.skip("clang not installed")
    with tempfile.TemporaryDirectory() as out:
        built = build_all(Path(out))
        assert len(built) == len(tool_sources())
        for path in built:
            committed = TOOLS_DIR / path.name
            assert committed.is_file(), f"{committed.name} missing: run the build"
            assert committed.read_bytes() == path.read_bytes(), (
                f"{committed.name} is stale: run "
                "python -m incontainer.actors.wasm.tools.build"
            )


def test_build_is_reproducible(tmp_path: Path) -> None:
    if find_clang() is None:
        pytest.skip("clang not installed")
    first = build_all(tmp_path / "a")
    second = build_all(tmp_path / "b")
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
