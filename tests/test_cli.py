"""The incontainer command line: exec, ps, doctor, run --explain."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}


def _cli(
    *args: str, cwd: Path, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "incontainer", *args],
        capture_output=True,
        env=ENV,
        cwd=cwd,
        input=stdin,
        timeout=300,
    )


def test_doctor_reports_components(tmp_path: Path) -> None:
    completed = _cli("doctor", cwd=tmp_path)
    output = completed.stdout.decode()
    assert completed.returncode == 0, output
    for component in ("ray", "wasmtime", "CPython for WASI", "redis-server", "runsc"):
        assert component in output


@pytest.mark.slow
def test_exec_passes_output_and_exit_code(tmp_path: Path) -> None:
    data = tmp_path / "data"
    completed = _cli(
        "exec", "--data-dir", str(data), "echo", "Hello", "World", cwd=tmp_path
    )
    assert completed.returncode == 0, completed.stderr.decode()[-2000:]
    assert completed.stdout == b"Hello World\n"
    failing = _cli(
        "exec", "--data-dir", str(data), "python", "-c",
        "import sys; print('bye'); sys.exit(3)",
        cwd=tmp_path,
    )  # fmt: skip
    assert failing.returncode == 3
    assert failing.stdout == b"bye\n"
    piped = _cli(
        "exec", "--data-dir", str(data), "wc", "-l", cwd=tmp_path, stdin=b"a\nb\n"
    )
    assert piped.stdout.split()[0] == b"2"
    listed = _cli("ps", "--all", "--data-dir", str(data), cwd=tmp_path)
    assert listed.returncode == 0
    assert b"terminated" in listed.stdout


def test_exec_rejects_bad_mount(tmp_path: Path) -> None:
    completed = _cli("exec", "--mount", "nocolon", "echo", "x", cwd=tmp_path)
    assert completed.returncode == 2
    assert b"invalid mount" in completed.stderr


@pytest.mark.slow
def test_run_explain_lists_costs(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(
        "jobs:\n"
        "  - name: plain\n"
        "    command: python\n"
        "    args: [-c, 'print(6 * 7)']\n"
        "    environment: auto\n"
    )
    completed = _cli(
        "run", str(jobs), "--json", "--explain", "--data-dir", str(tmp_path / "d"),
        cwd=tmp_path,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr.decode()[-2000:]
    (result,) = json.loads(completed.stdout)["results"]
    assert result["stdout"] == "42\n"
    explained = result["explain"]
    assert (
        explained["chosen"]
        == f"{result['placement']['backend']}@" + result["placement"]["node_id"][:8]
    )
    assert explained["costs"]
    table = _cli(
        "run", str(jobs), "--explain", "--data-dir", str(tmp_path / "d"), cwd=tmp_path
    )
    assert table.returncode == 0
    assert b"(chosen)" in table.stdout
    assert b"why each job went where it went" in table.stdout
    # Each run closed its embedded Ray right after the last result; the
    # scheduler's background teardown still ended both containers.
    listed = _cli("ps", "--all", "--data-dir", str(tmp_path / "d"), cwd=tmp_path)
    assert listed.returncode == 0
    assert b"terminating" not in listed.stdout
    assert listed.stdout.count(b"terminated") == 2
