"""Scheduler routing policies on one mixed batch, against an oracle, in one run.

Usage: ``python bench/bench_scheduler.py [--repeats N] [--samples N]
[--pool-size N]``. The benchmark starts the embedded default once: a local
Ray on 127.0.0.1, with the ``gvisor`` resource when runsc is installed, and
a private redis-server in a temporary data directory. It then runs the same
batch of real workloads under each routing policy of the scheduler actor:

- ``gvisor``: every workload on gVisor;
- ``wasm``: WASM wherever the static analysis finds it feasible, gVisor for
  the rest;
- ``round_robin``: feasible placements taken in turn;
- ``cost`` cold: the cost model from its default estimates, learning online
  while the batch runs;
- ``cost`` warm: the same scheduler actor running the batch a second time,
  with the estimates learned from the first;
- ``oracle``: the cost policy with run times preloaded from the true run
  time of every workload kind on every feasible backend, measured as the
  minimum of ``--samples`` pinned runs before the batches.

The batch mixes short and long Python, native-only programs (busybox
pipelines, Python that imports lzma or ctypes), WASI text tools and
workloads that ask for maximum isolation. Makespan is the time from the
first submit to the last result. Every output is checked against the output
of the measurement runs, so a wrong result counts as a failure, and any
failure marks its row invalid.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray

from incontainer import ContainerConfig, Workload, create_container_manager
from incontainer.config import EnvironmentType, IsolationLevel, Mount, SecurityContext
from incontainer.manager import ContainerManager
from incontainer.scheduler.client import map_workloads, stop_scheduler
from incontainer.scheduler.feasibility import analyze
from incontainer.scheduler.service import SchedulerSettings
from incontainer.workload import WorkloadResult, run_workload

NAMESPACE = "incontainer-bench-scheduler"
LICENSES = "/usr/share/common-licenses"
DISTRO_INFO = "/usr/share/distro-info"
BACKENDS = ("wasm", "gvisor")

# CPU loops of 0.3 to 0.7 s in native CPython 3.11, measured on a 2-core
# VM. CPython for WASI runs them about 7x slower.
LONG_PYTHON = {
    "squares": "s = 0\nfor i in range(5_000_000):\n    s += i * i\nprint(s)",
    "primes": (
        "count = 0\n"
        "for n in range(2, 150_000):\n"
        "    d = 2\n"
        "    while d * d <= n and n % d:\n"
        "        d += 1\n"
        "    count += d * d > n\n"
        "print(count)"
    ),
    "collatz": (
        "best = 0\n"
        "for start in range(1, 60_000):\n"
        "    x, steps = start, 0\n"
        "    while x != 1:\n"
        "        x = x // 2 if x % 2 == 0 else 3 * x + 1\n"
        "        steps += 1\n"
        "    best = max(best, steps)\n"
        "print(best)"
    ),
    "lcg-sort": (
        "x, values = 1, []\n"
        "for _ in range(1_000_000):\n"
        "    x = (1103515245 * x + 12345) % 2**31\n"
        "    values.append(x)\n"
        "values.sort()\n"
        "print(values[len(values) // 2])"
    ),
}

SHORT_PYTHON = {
    "top-words": (
        "import collections, json, re\n"
        "words = re.findall(r'[a-z]+', open('/licenses/GPL-3').read().lower())\n"
        "print(json.dumps(collections.Counter(words).most_common(5)))"
    ),
    "debian-csv": (
        "import csv\n"
        "rows = list(csv.DictReader(open('/distro/debian.csv')))\n"
        "print(len(rows), rows[-1]['series'])"
    ),
    "csv-to-json": (
        "import csv, json\n"
        "rows = list(csv.DictReader(open('/distro/debian.csv')))\n"
        "text = json.dumps(rows, sort_keys=True)\n"
        "print(len(text), json.loads(text) == rows)"
    ),
    "license-hashes": (
        "import hashlib, os\n"
        "for name in sorted(os.listdir('/licenses')):\n"
        "    data = open('/licenses/' + name, 'rb').read()\n"
        "    print(name, hashlib.sha1(data).hexdigest()[:12])"
    ),
    "line-stats": (
        "import statistics\n"
        "lines = open('/licenses/Apache-2.0').read().splitlines()\n"
        "print(len(lines), round(statistics.mean(map(len, lines)), 2))"
    ),
    "urls": (
        "import re\n"
        "text = open('/licenses/GPL-3').read() + open('/licenses/MPL-2.0').read()\n"
        "print(sorted(set(re.findall(r'https?://[^\\s>]+', text))))"
    ),
}

# More short jobs of the kinds above, for the typical batch.
MORE_SHORT_PYTHON = {
    "ubuntu-lts": (
        "import csv\n"
        "rows = list(csv.DictReader(open('/distro/ubuntu.csv')))\n"
        "print(sum('LTS' in r['version'] for r in rows), len(rows))"
    ),
    "debian-lifetimes": (
        "import csv, datetime\n"
        "days = []\n"
        "for r in csv.DictReader(open('/distro/debian.csv')):\n"
        "    if r['release'] and r['eol']:\n"
        "        start = datetime.date.fromisoformat(r['release'])\n"
        "        end = datetime.date.fromisoformat(r['eol'])\n"
        "        days.append((end - start).days)\n"
        "print(len(days), max(days))"
    ),
    "license-words": (
        "import os\n"
        "for name in sorted(os.listdir('/licenses')):\n"
        "    print(name, len(open('/licenses/' + name).read().split()))"
    ),
    "bigrams": (
        "import collections, re\n"
        "w = re.findall(r'[a-z]+', open('/licenses/Apache-2.0').read().lower())\n"
        "print(collections.Counter(zip(w, w[1:])).most_common(3))"
    ),
    "longest-line": (
        "lines = open('/licenses/GPL-2').read().splitlines()\n"
        "print(max(map(len, lines)), sum(1 for x in lines if x.isupper()))"
    ),
    "mpl-sections": (
        "import re\n"
        "text = open('/licenses/MPL-2.0').read()\n"
        "print(re.findall(r'^(\\d+)\\. ', text, re.M))"
    ),
}

NATIVE_PYTHON = {
    "lzma": (
        "import lzma\n"
        "data = open('/licenses/GPL-3', 'rb').read()\n"
        "print(len(data), lzma.decompress(lzma.compress(data)) == data)"
    ),
    "ctypes": (
        "import ctypes\n"
        "libc = ctypes.CDLL('libc.so.6')\n"
        "print(libc.strlen(open('/licenses/BSD', 'rb').read()))"
    ),
}

BUSYBOX_PIPELINES = {
    "word-freq": (
        "busybox tr -cs 'A-Za-z' '\\n' < /licenses/GPL-3 | busybox tr A-Z a-z"
        " | busybox sort | busybox uniq -c | busybox sort -rn | busybox head -5"
    ),
    "license-sizes": "busybox wc -c /licenses/*-* | busybox sort -n | busybox tail -3",
}

TOOLS = [
    ("wc-gpl", "wc", ("-w", "/licenses/GPL-3")),
    ("wc-many", "wc", ("-l", "/licenses/LGPL-2.1", "/licenses/MPL-1.1")),
    ("sha-gpl", "sha256sum", ("/licenses/GPL-3",)),
    ("sha-apache", "sha256sum", ("/licenses/Apache-2.0", "/licenses/Artistic")),
    ("grep-license", "grep", ("-c", "License", "/licenses/GPL-3")),
    ("grep-warranty", "grep", ("-in", "warrant", "/licenses/BSD")),
]


MORE_TOOLS = [
    ("wc-apache", "wc", ("-c", "/licenses/Apache-2.0")),
    ("head-gpl", "head", ("-n", "5", "/licenses/GPL-3")),
    ("tail-bsd", "tail", ("-n", "3", "/licenses/BSD")),
    ("sort-ubuntu", "sort", ("/distro/ubuntu.csv",)),
    ("grep-lts", "grep", ("-c", "LTS", "/distro/ubuntu.csv")),
    ("sha-csv", "sha256sum", ("/distro/debian.csv", "/distro/ubuntu.csv")),
]

BATCHES = ("typical", "gvisor-heavy")


@dataclass
class BatchRun:
    """One timed batch under one policy."""

    makespan_s: float
    failures: int
    placements: Counter[str]
    escalations: int
    by_workload: dict[str, str] = field(default_factory=dict)


def _config(name: str) -> ContainerConfig:
    mounts = (
        Mount(LICENSES, "/licenses", read_only=True),
        Mount(DISTRO_INFO, "/distro", read_only=True),
    )
    return ContainerConfig(name=name, environment=EnvironmentType.AUTO, mounts=mounts)


def _python(name: str, code: str, *, maximum: bool = False) -> Workload:
    level = IsolationLevel.MAXIMUM if maximum else IsolationLevel.STANDARD
    return Workload(
        name,
        "python",
        ("-c", code),
        config=_config(name),
        security=SecurityContext(isolation_level=level),
    )


def _command(
    name: str, command: str, args: Sequence[str], *, maximum: bool = False
) -> Workload:
    level = IsolationLevel.MAXIMUM if maximum else IsolationLevel.STANDARD
    return Workload(
        name,
        command,
        tuple(args),
        config=_config(name),
        security=SecurityContext(isolation_level=level),
    )


def build_batch(kind: str = "typical") -> list[Workload]:
    """Return a mixed batch with the long workloads spread through it.

    ``gvisor-heavy`` (23 workloads): 6 short Python jobs, 6 WASI tools, 4 long
    Python loops, 4 native-only jobs and 3 at maximum isolation, so 11 are
    best on gVisor. ``typical`` (32 workloads): 12 short Python jobs and 12
    tools, with 2 long loops, 4 native-only jobs and 2 at maximum isolation,
    so 8 are best on gVisor.
    """
    short = [_python(f"py-{n}", c) for n, c in SHORT_PYTHON.items()]
    long = [_python(f"long-{n}", c) for n, c in LONG_PYTHON.items()]
    native = [_python(f"native-{n}", c) for n, c in NATIVE_PYTHON.items()]
    native += [
        _command(f"busybox-{n}", "/bin/busybox", ("sh", "-c", script))
        for n, script in BUSYBOX_PIPELINES.items()
    ]
    tools = [_command(n, c, a) for n, c, a in TOOLS]
    maximum = [
        _python("max-top-words", SHORT_PYTHON["top-words"], maximum=True),
        _command("max-wc", "wc", ("-c", "/licenses/GPL-2"), maximum=True),
        _command("max-grep", "grep", ("-c", "GNU", "/licenses/LGPL-3"), maximum=True),
    ]
    if kind == "typical":
        short += [_python(f"py-{n}", c) for n, c in MORE_SHORT_PYTHON.items()]
        tools += [_command(n, c, a) for n, c, a in MORE_TOOLS]
        long = long[:2]
        maximum = maximum[:2]
    batch: list[Workload] = []
    groups = [short, tools, native, maximum]
    # Interleave so the long workloads arrive at the start, middle and end.
    step = max(len(g) for g in groups) // len(long) + 1
    for index, heavy in enumerate(long):
        batch.append(heavy)
        for group in groups:
            batch.extend(group[index * step : (index + 1) * step])
    for group in groups:
        batch.extend(group[len(long) * step :])
    return batch


# Measurement of the true run times -----------------------------------------


def feasible_backends(workload: Workload, gvisor: bool) -> list[str]:
    requirements = analyze(workload)
    backends = [] if requirements.wasm_blockers() else ["wasm"]
    if gvisor and not requirements.network:
        backends.append("gvisor")
    return backends


def measure_true_times(
    manager: ContainerManager, batch: Sequence[Workload], gvisor: bool, samples: int
) -> tuple[dict[str, dict[str, float]], dict[str, set[bytes]]]:
    """Run every workload ``samples`` times on every feasible backend, pinned.

    Returns the minimum run seconds per workload name and backend (the
    ExecResult duration, which is what the cost model learns as run time)
    and the outputs seen per workload name. The minimum is the sample least
    slowed by other processes on the machine. A backend whose runs all fail
    is left out.
    """
    times: dict[str, dict[str, float]] = {}
    outputs: dict[str, set[bytes]] = {}
    for workload in batch:
        times[workload.name] = {}
        outputs[workload.name] = set()
        for backend in feasible_backends(workload, gvisor):
            seconds = []
            for _ in range(samples):
                outcome = run_workload(manager, workload, backend=backend)
                if not outcome.ok or outcome.result is None:
                    print(f"  {workload.name} failed on {backend}: {_failure(outcome)}")
                    continue
                seconds.append(outcome.result.duration_s)
                outputs[workload.name].add(outcome.result.stdout)
            if seconds:
                times[workload.name][backend] = min(seconds)
        if len(outputs[workload.name]) > 1:
            print(f"  {workload.name}: the runs print different output")
    return times, outputs


def _failure(outcome: WorkloadResult) -> str:
    if outcome.error is not None:
        return repr(outcome.error)
    if outcome.result is None:
        return "no result"
    stderr = outcome.result.stderr[-200:].decode("utf-8", "replace")
    return f"exit {outcome.result.exit_code}: {stderr.strip()}"


def oracle_preload(
    batch: Sequence[Workload], times: dict[str, dict[str, float]]
) -> tuple[tuple[str, float], ...]:
    """Return mean measured run seconds per ``KIND|BACKEND``."""
    samples: dict[str, list[float]] = {}
    for workload in batch:
        kind = analyze(workload).kind
        for backend, seconds in times[workload.name].items():
            samples.setdefault(f"{kind}|{backend}", []).append(seconds)
    return tuple(sorted((k, statistics.mean(v)) for k, v in samples.items()))


def lower_bound(times: dict[str, dict[str, float]], slots: int) -> float:
    """Return a makespan bound from run times alone, ignoring start and teardown."""
    fastest = [min(by_backend.values()) for by_backend in times.values() if by_backend]
    return max(max(fastest), sum(fastest) / slots)


# Policies -------------------------------------------------------------------


def time_batch(
    scheduler: Any, batch: Sequence[Workload], outputs: dict[str, set[bytes]]
) -> BatchRun:
    """Submit the whole batch, wait for every result and count the placements."""
    placements: Counter[str] = Counter()
    by_workload = {}
    failures = escalations = 0
    started = time.perf_counter()
    for _, outcome in map_workloads(scheduler, batch):
        name = outcome.workload.name
        backend = outcome.placement.get("backend", "")
        placements[backend] += 1
        by_workload[name] = backend
        escalations += bool(outcome.placement.get("escalations"))
        result = outcome.result
        if not outcome.ok or result is None or result.stdout not in outputs[name]:
            failures += 1
            print(f"    {name} failed on {backend or 'nothing'}: {_failure(outcome)}")
    makespan = time.perf_counter() - started
    return BatchRun(makespan, failures, placements, escalations, by_workload)


def run_policy(
    manager: ContainerManager,
    settings: SchedulerSettings,
    batch: Sequence[Workload],
    outputs: dict[str, set[bytes]],
    batches: int,
) -> tuple[list[BatchRun], dict[str, Any]]:
    """Run ``batches`` batches on one fresh scheduler actor.

    Returns the runs and the cost model's statistics after the last one.
    """
    stop_scheduler(NAMESPACE)
    scheduler = manager.scheduler(settings)
    runs = []
    try:
        for _ in range(batches):
            if not ray.get(scheduler.wait_ready.remote(120)):
                raise RuntimeError("the warm WASM pool did not fill within 120 s")
            runs.append(time_batch(scheduler, batch, outputs))
        model: dict[str, Any] = ray.get(scheduler.statistics.remote())["model"]
    finally:
        stop_scheduler(NAMESPACE)
    return runs, model


# Report ---------------------------------------------------------------------


def machine_facts() -> list[str]:
    memory_kb = 0
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    runsc = shutil.which("runsc")
    runsc_version = "not installed"
    if runsc is not None:
        output = subprocess.run(
            [runsc, "--version"], capture_output=True, text=True, check=False
        ).stdout
        runsc_version = output.splitlines()[0] if output else "unknown"
    return [
        f"command: {shlex.join([sys.executable, *sys.argv])}",
        f"machine: {platform.platform()}, nproc {os.cpu_count()}, "
        f"memory {memory_kb / 2**20:.1f} GiB",
        f"python {platform.python_version()}, ray {ray.__version__}, {runsc_version}",
        load_average(),
    ]


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average: {one:.2f} {five:.2f} {fifteen:.2f}"


def print_table(
    rows: dict[str, list[BatchRun]], oracle_label: str, gvisor_label: str
) -> None:
    medians = {
        label: statistics.median(r.makespan_s for r in runs)
        for label, runs in rows.items()
    }
    print("| policy | makespan s (median) | min | runs | vs oracle |"
          " speedup vs all-gVisor | placements wasm/gvisor | escalations |"
          " failures |")  # fmt: skip
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|")
    for label, runs in rows.items():
        median = medians[label]
        failures = sum(r.failures for r in runs)
        placements = runs[-1].placements
        samples = ", ".join(f"{r.makespan_s:.1f}" for r in runs)
        print(
            f"| {label} | {median:.2f} | {min(r.makespan_s for r in runs):.2f} | "
            f"{samples} | "
            f"{median / medians[oracle_label]:.2f}x | "
            f"{medians[gvisor_label] / median:.2f}x | "
            f"{placements['wasm']}/{placements['gvisor']} | "
            f"{runs[-1].escalations} | "
            f"{failures}{' (row invalid)' if failures else ''} |"
        )


def print_choices(rows: dict[str, list[BatchRun]], labels: Sequence[str]) -> None:
    """Print where each workload ran in the last run of each labelled policy."""
    names = list(rows[labels[0]][-1].by_workload)
    print("| workload | " + " | ".join(labels) + " |")
    print("|---|" + "---|" * len(labels))
    for name in sorted(names):
        cells = [rows[label][-1].by_workload.get(name, "") for label in labels]
        print(f"| {name} | " + " | ".join(cells) + " |")


def print_true_times(times: dict[str, dict[str, float]]) -> None:
    print("| workload | wasm run s | gvisor run s |")
    print("|---|---:|---:|")
    for name, by_backend in times.items():
        cells = [
            f"{by_backend[b]:.3f}" if b in by_backend else "infeasible"
            for b in BACKENDS
        ]
        print(f"| {name} | {cells[0]} | {cells[1]} |")


# Main -----------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="batches per policy")
    parser.add_argument(
        "--samples", type=int, default=2, help="pinned runs per workload and backend"
    )
    parser.add_argument(
        "--pool-size", type=int, default=2, help="warm container actors per node"
    )
    parser.add_argument(
        "--batch", choices=BATCHES, default="typical", help="which mixed batch to run"
    )
    args = parser.parse_args()
    for name in ("repeats", "samples", "pool_size"):
        if getattr(args, name) < (0 if name == "pool_size" else 1):
            parser.error(f"invalid --{name.replace('_', '-')}: too small")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

    for line in machine_facts():
        print(line)
    gvisor = shutil.which("runsc") is not None
    if not gvisor:
        print("runsc not installed: gVisor placements are infeasible")
    batch = build_batch(args.batch)
    with tempfile.TemporaryDirectory() as tmp:
        manager = create_container_manager(
            data_dir=Path(tmp) / "data", namespace=NAMESPACE
        )
        try:
            rows, times, model = run_all(manager, batch, gvisor, args)
        finally:
            stop_scheduler(NAMESPACE)
            manager.close()
    report(rows, times, model, args)


def run_all(
    manager: ContainerManager,
    batch: Sequence[Workload],
    gvisor: bool,
    args: argparse.Namespace,
) -> tuple[dict[str, list[BatchRun]], dict[str, dict[str, float]], dict[str, Any]]:
    """Measure the true run times, then run every policy ``args.repeats`` times."""
    print(f"\nmeasuring true run times of {len(batch)} workloads, pinned", flush=True)
    times, outputs = measure_true_times(manager, batch, gvisor, args.samples)
    preload = oracle_preload(batch, times)
    base = {"pool_size": args.pool_size}
    policies = {
        "all-gVisor": SchedulerSettings(policy="gvisor", **base),
        "all-WASM where feasible": SchedulerSettings(policy="wasm", **base),
        "round-robin": SchedulerSettings(policy="round_robin", **base),
        "oracle (true run times)": SchedulerSettings(preload=preload, **base),
    }
    rows: dict[str, list[BatchRun]] = {"cost, cold": [], "cost, warm": []}
    rows.update({label: [] for label in policies})
    model: dict[str, Any] = {}
    for repeat in range(args.repeats):
        print(f"repeat {repeat + 1} of {args.repeats}", flush=True)
        for label, settings in policies.items():
            runs, _ = run_policy(manager, settings, batch, outputs, 1)
            rows[label].extend(runs)
            print(f"  {label}: {runs[0].makespan_s:.2f} s", flush=True)
        # The cost policy starts from the default estimates; its second
        # batch on the same actor uses what it learned from the first.
        runs, model = run_policy(manager, SchedulerSettings(**base), batch, outputs, 2)
        rows["cost, cold"].append(runs[0])
        rows["cost, warm"].append(runs[1])
        print(
            f"  cost: cold {runs[0].makespan_s:.2f} s, warm {runs[1].makespan_s:.2f} s",
            flush=True,
        )
    return rows, times, model


def report(
    rows: dict[str, list[BatchRun]],
    times: dict[str, dict[str, float]],
    model: dict[str, Any],
    args: argparse.Namespace,
) -> None:
    print(f"\n{load_average()} (other processes share the {os.cpu_count()} cores)")
    print(f"batch: {args.batch}, {len(times)} workloads; repeats: {args.repeats}; "
          f"warm pool: {args.pool_size} actors per node")  # fmt: skip
    slots = os.cpu_count() or 1
    bound = lower_bound(times, slots)
    print(f"lower bound from run times alone over {slots} slots: {bound:.2f} s\n")
    print_table(rows, "oracle (true run times)", "all-gVisor")
    print("\nplacement of each workload in the last run:\n")
    print_choices(rows, ["cost, cold", "cost, warm", "oracle (true run times)"])
    print("\ntrue run times measured with pinned placement:\n")
    print_true_times(times)
    starts = model.get("start_estimates", {})
    learned = ", ".join(f"{k} {v:.3f} s" for k, v in sorted(starts.items()))
    print(f"\nstart latencies the cost model learned: {learned}")


if __name__ == "__main__":
    main()
