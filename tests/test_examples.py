"""The main command on the bundled jobs, checked against native computation."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from incontainer.jobs import load_jobs

ROOT = Path(__file__).resolve().parents[1]
JOBS = ROOT / "examples" / "jobs.yaml"
GVISOR_ONLY = frozenset(
    {
        "gpl3-lzma-compression",
        "gpl3-top-words-busybox",
        "debian-release-support-isolated",
    }
)


def _native(workload: Any) -> bytes:
    """Compute a job's expected stdout on the host, without incontainer."""
    mounts = {m.guest_path: m.host_path for m in workload.config.mounts}

    def host(path: str) -> str:
        for guest, source in mounts.items():
            if path.startswith(guest + "/"):
                return source + path[len(guest) :]
        return path

    args = [host(a) for a in workload.args]
    command = workload.command
    if command == "python":
        script = ROOT / "examples" / "scripts" / workload.args[0]
        if not script.exists():
            script = Path(args[0])
        run = [sys.executable, str(script), *args[1:]]
        return subprocess.run(run, capture_output=True, check=True).stdout
    if command == "sha256sum":
        lines = [
            f"{hashlib.sha256(Path(h).read_bytes()).hexdigest()}  {g}\n"
            for h, g in zip(args, workload.args, strict=True)
        ]
        return "".join(lines).encode()
    if command == "/bin/busybox":
        script = [a.replace("/data/", mounts["/data"] + "/") for a in workload.args]
        return subprocess.run([command, *script], capture_output=True).stdout
    if command in ("wc", "grep", "sort"):
        env = {**os.environ, "LC_ALL": "C"}
        out = subprocess.run([command, *args], capture_output=True, env=env).stdout
        for h, g in zip(args, workload.args, strict=True):
            out = out.replace(h.encode(), g.encode())
        return out
    raise AssertionError(f"no native equivalent for {command}")


def _run_json(jobs: Path, tmp_path: Path) -> subprocess.CompletedProcess[bytes]:
    """Run ``incontainer run JOBS --json`` with its own Ray and Redis."""
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    command = [sys.executable, "-m", "incontainer", "run", str(jobs), "--json"]
    command += ["--data-dir", str(tmp_path / "data")]
    return subprocess.run(
        command, capture_output=True, env=env, timeout=600, cwd=tmp_path
    )


@pytest.mark.slow
def test_run_examples_matches_native(tmp_path: Path) -> None:
    completed = _run_json(JOBS, tmp_path)
    has_runsc = shutil.which("runsc") is not None
    expected_code = 0 if has_runsc else 1
    assert completed.returncode == expected_code, completed.stderr.decode()[-3000:]
    payload = json.loads(completed.stdout)
    assert payload["invalid_jobs"] == []
    results = {r["job"]: r for r in payload["results"]}
    workloads = load_jobs(JOBS).workloads
    assert set(results) == {w.name for w in workloads}
    backends: dict[str, str] = {}
    for workload in workloads:
        result = results[workload.name]
        if not has_runsc and workload.name in GVISOR_ONLY:
            # Without runsc these are reported unschedulable with the hint.
            assert "runsc" in result["error"]["message"]
            continue
        assert result["ok"], result
        assert result["stdout"].encode() == _native(workload), workload.name
        assert result["placement"]["reason"]
        backends[workload.name] = result["placement"]["backend"]
    for name in GVISOR_ONLY & set(backends):
        assert backends[name] == "gvisor", name
    assert backends["license-checksums"] == "wasm"


def test_run_reports_bad_jobs_and_runs_the_rest(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(
        "jobs:\n"
        "  - name: good\n"
        "    command: echo\n"
        "    args: [still, runs]\n"
        "  - name: missing-command\n"
        "    args: [x]\n"
        "  - name: unknown\n"
        "    command: frobnicate\n"
    )
    completed = _run_json(jobs, tmp_path)
    assert completed.returncode == 1
    payload = json.loads(completed.stdout)
    (good,) = payload["results"]
    assert good["stdout"] == "still runs\n"
    invalid = {(e["line"], e["field"]) for e in payload["invalid_jobs"]}
    assert invalid == {(5, "command"), (8, "command")}
    stderr = completed.stderr.decode()
    assert f"{jobs}:5:" in stderr
    assert f"{jobs}:8:" in stderr


def test_run_invalid_yaml_exits_2(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text("jobs: [\n")
    completed = subprocess.run(
        [sys.executable, "-m", "incontainer", "run", str(jobs)],
        capture_output=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert completed.returncode == 2
    assert "invalid YAML" in completed.stderr.decode()
    assert str(jobs) in completed.stderr.decode()
