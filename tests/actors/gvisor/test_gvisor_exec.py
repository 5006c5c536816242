"""Executions in a real gVisor sandbox: argv, stdin, env, cwd, output, time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gvisor_helpers import ensure_ray, wait_until

from incontainer.config import ExecResult
from incontainer.errors import InvalidInputError, TimedOutError


@pytest.fixture(scope="module")
def shared(
    _node_session: None, gvisor_data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    """One sandbox reused by the tests of this module (each takes ~0.2 s to
    create, and these tests do not change its state)."""
    from incontainer.actors.gvisor import GVisorBackend, ensure_node_actor
    from incontainer.config import IsolationLevel, Resources

    ensure_ray()
    node = ensure_node_actor(data_dir=str(gvisor_data_dir), reap_interval_s=0.5)
    workspace = tmp_path_factory.mktemp("exec-workspace")
    backend = GVisorBackend(
        node,
        "exec-shared",
        resources=Resources(memory_mb=256, wall_time_s=30.0),
        mounts=(),
        env={"CONTAINER_VAR": "from-config"},
        isolation=IsolationLevel.STANDARD,
        workspace=workspace,
        output_cap=64 * 1024,
    )
    backend.start()
    backend.workspace = workspace  # type: ignore[attr-defined]
    yield backend
    backend.close()


def run(backend: Any, *argv: str, **options: Any) -> ExecResult:
    options.setdefault("stdin", None)
    options.setdefault("env", {})
    options.setdefault("timeout_s", 30.0)
    result: ExecResult = backend.execute(argv[0], list(argv[1:]), **options)
    return result


def test_argv_is_passed_verbatim(shared: Any) -> None:
    words = ["a b", "$HOME", ";ls", "'quoted'", "*", ""]
    result = run(shared, "printf", "[%s]\n", *words)
    assert result.exit_code == 0
    assert result.stdout.decode().splitlines() == [f"[{w}]" for w in words]
    assert result.backend == "gvisor"


def test_stdin_reaches_the_guest(shared: Any) -> None:
    data = bytes(range(256)) * 200
    result = run(shared, "cat", stdin=data)
    assert result.exit_code == 0
    assert result.stdout == data
    # Larger than a pipe buffer, and the guest reads all of it.
    assert run(shared, "wc", "-c", stdin=b"x" * 3_000_000).stdout == b"3000000\n"


def test_no_stdin_reads_end_of_file(shared: Any) -> None:
    result = run(shared, "cat")
    assert result.exit_code == 0
    assert result.stdout == b""


def test_env_merges_config_and_call(shared: Any) -> None:
    script = 'echo "$CONTAINER_VAR $CALL_VAR $PATH"'
    result = run(shared, "sh", "-c", script, env={"CALL_VAR": "from-call"})
    words = result.stdout.decode().split()
    assert words[0] == "from-config"
    assert words[1] == "from-call"
    assert words[2].startswith("/opt/incontainer/bin:")


def test_working_directory(shared: Any) -> None:
    assert run(shared, "pwd").stdout == b"/workspace\n"
    assert run(shared, "pwd", cwd="/tmp").stdout == b"/tmp\n"
    (shared.workspace / "sub").mkdir(exist_ok=True)
    assert run(shared, "pwd", cwd="sub").stdout == b"/workspace/sub\n"


def test_exit_code_and_stderr(shared: Any) -> None:
    result = run(shared, "sh", "-c", "echo out; echo err >&2; exit 7")
    assert result.exit_code == 7
    assert result.stdout == b"out\n"
    assert result.stderr == b"err\n"
    assert not result.truncated


def test_exit_code_128_from_guest(shared: Any) -> None:
    result = run(shared, "sh", "-c", "exit 128")
    assert result.exit_code == 128


def test_missing_command_is_exit_127(shared: Any) -> None:
    result = run(shared, "no-such-command")
    assert result.exit_code == 127
    assert b"no-such-command" in result.stderr


def test_output_cap_truncates(shared: Any) -> None:
    result = run(shared, "sh", "-c", "head -c 300000 /dev/zero; echo tail >&2")
    assert result.exit_code == 0
    assert len(result.stdout) == 64 * 1024
    assert result.truncated
    assert result.stderr == b"tail\n"


def test_output_under_cap_is_whole(shared: Any) -> None:
    result = run(shared, "head", "-c", "65536", "/dev/zero")
    assert len(result.stdout) == 65536
    assert not result.truncated


def test_timeout_kills_the_process_tree(shared: Any) -> None:
    script = "sleep 1000 & echo started; sleep 1001"
    with pytest.raises(TimedOutError) as caught:
        run(shared, "sh", "-c", script, timeout_s=1.0)
    assert caught.value.partial_stdout == b"started\n"
    assert caught.value.container_id == "exec-shared"

    def no_sleepers() -> bool:
        ps = run(shared, "ps", "-eo", "stat,args").stdout.decode()
        live = [line for line in ps.splitlines() if "sleep 100" in line]
        return all(line.startswith("Z") for line in live)

    wait_until(no_sleepers, what="killed guest processes to exit")
    assert shared.statistics()["timeouts"] >= 1
    assert not shared.failed


def test_background_process_does_not_block_exec(shared: Any) -> None:
    # The background sleep keeps the output pipes open in the sandbox; the
    # execution still ends when the shell exits.
    result = run(shared, "sh", "-c", "sleep 30 >/dev/null 2>&1 & echo done")
    assert result.stdout == b"done\n"
    run(shared, "pkill", "-f", "sleep 30")


def test_busybox_ls_and_stat_work(shared: Any) -> None:
    (shared.workspace / "listed.txt").write_text("x")
    listing = run(shared, "ls", "-la", "/workspace")
    assert listing.exit_code == 0, listing.stderr
    assert b"listed.txt" in listing.stdout
    stat = run(shared, "stat", "/workspace/listed.txt")
    assert stat.exit_code == 0, stat.stderr
    assert b"Size: 1" in stat.stdout


def test_workspace_is_shared_with_host(shared: Any) -> None:
    result = run(shared, "sh", "-c", "echo guest > /workspace/from-guest.txt")
    assert result.exit_code == 0
    assert (shared.workspace / "from-guest.txt").read_text() == "guest\n"


def test_rootfs_is_read_only(shared: Any) -> None:
    for path in ("/usr/x", "/etc/x", "/x", "/home/x"):
        result = run(shared, "sh", "-c", f"echo x > {path}")
        assert result.exit_code != 0, path
        assert b"Read-only file system" in result.stderr, path
    assert run(shared, "sh", "-c", "echo x > /tmp/x").exit_code == 0


def test_no_host_secrets(shared: Any) -> None:
    assert Path("/etc/shadow").read_text(), "host /etc/shadow is empty"
    assert run(shared, "cat", "/etc/shadow").stdout == b""
    passwd = run(shared, "cat", "/etc/passwd").stdout.decode()
    assert [line.split(":")[0] for line in passwd.splitlines()] == ["root", "nobody"]
    for guest_dir, expected in (("/root", []), ("/home", []), ("/var", ["tmp"])):
        listing = run(shared, "ls", "-A", guest_dir)
        assert listing.exit_code == 0, listing.stderr
        assert listing.stdout.decode().split() == expected, guest_dir
    etc = run(shared, "ls", "-A", "/etc").stdout.decode().split()
    assert "ssh" not in etc
    assert "hostname" in etc


def test_invalid_input_is_rejected(shared: Any) -> None:
    with pytest.raises(InvalidInputError):
        shared.execute("", [], stdin=None, env={}, timeout_s=None)
    with pytest.raises(InvalidInputError):
        shared.execute("sh", "-c true", stdin=None, env={}, timeout_s=None)
    with pytest.raises(InvalidInputError):
        shared.execute("sh", ["a\0b"], stdin=None, env={}, timeout_s=None)
    with pytest.raises(InvalidInputError):
        shared.execute("true", [], stdin=None, env={"1A": "x"}, timeout_s=None)
    with pytest.raises(InvalidInputError):
        shared.execute("true", [], stdin=None, env={}, timeout_s=-1)
    with pytest.raises(InvalidInputError):
        shared.execute("true", [], stdin="text", env={}, timeout_s=None)
