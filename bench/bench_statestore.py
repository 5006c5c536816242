"""State store benchmarks against a redis-server this script starts itself.

Run ``python bench/bench_statestore.py``. Each figure is compared with raw
redis-py doing the equivalent work in the same run, on the same server:

1. bytes sent for a one-field change of a 1 MB document, differential patch
   versus writing the whole document (server-side ``total_net_input_bytes``);
2. critical updates per second versus raw redis-py (HSET of a msgpack value
   plus a version bump, one update per round trip);
3. time until critical state is back versus a full restore of about 100 MB
   (mostly non-critical values and workspace files).

Targets: at most 1% of the bytes, at least 50% of the raw throughput,
critical state in at most 10% of the full restore time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import msgpack
import redis

from incontainer._util.redis_server import RedisServer
from incontainer.statestore import create_state_synchronizer


def _net_input(client: redis.Redis) -> int:
    return int(client.info("stats")["total_net_input_bytes"])


def _input_delta(client: redis.Redis, action: Any) -> int:
    """Bytes the server received while ``action`` ran, minus INFO's own."""
    baseline_start = _net_input(client)
    baseline = _net_input(client) - baseline_start
    start = _net_input(client)
    action()
    return _net_input(client) - start - baseline


def bench_bytes(url: str) -> dict[str, float]:
    document = {
        "items": {f"k{i:05d}": "x" * 90 for i in range(10_000)},
        "counter": 0,
    }
    encoded = msgpack.packb(document, use_bin_type=True)
    client = redis.Redis.from_url(url)
    with create_state_synchronizer(url) as sync:
        sync.initialize_sync("bytes")
        sync.update_state("bytes", "doc", document)
        rounds = 20

        def patches() -> None:
            for step in range(1, rounds + 1):
                document["counter"] = step
                sync.update_state("bytes", "doc", document)

        patch_bytes = _input_delta(client, patches) / rounds

        def whole() -> None:
            for _ in range(rounds):
                client.set("raw:doc", encoded)

        whole_bytes = _input_delta(client, whole) / rounds
    client.close()
    return {
        "document_bytes": len(encoded),
        "patch_bytes": patch_bytes,
        "whole_bytes": whole_bytes,
        "ratio": patch_bytes / whole_bytes,
    }


def bench_throughput(url: str, count: int, repeats: int) -> dict[str, float]:
    """Best-of-``repeats`` rates of three ways to write ``count`` updates.

    "One at a time" sends HSET and the version bump (HINCRBY) as two awaited
    calls, as redis-py code does without a pipeline. "Pipelined" sends both
    in one round trip per update.
    """
    client = redis.Redis.from_url(url)
    best = {"sync": 0.0, "raw": 0.0, "raw_pipelined": 0.0}

    def record(name: str, start: float) -> None:
        best[name] = max(best[name], count / (time.perf_counter() - start))

    with create_state_synchronizer(url) as sync:
        sync.initialize_sync("rate")
        for repeat in range(repeats):
            value = {"counter": 0, "name": "bench", "tags": ["a", "b"], "r": repeat}
            start = time.perf_counter()
            for step in range(count):
                value["counter"] = step
                sync.update_state("rate", "doc", value)
            record("sync", start)

            start = time.perf_counter()
            for step in range(count):
                value["counter"] = step
                client.hset("raw:values", "doc", msgpack.packb(value))
                client.hincrby("raw:versions", "doc", 1)
            record("raw", start)

            start = time.perf_counter()
            for step in range(count):
                value["counter"] = step
                pipe = client.pipeline(transaction=False)
                pipe.hset("raw:values", "doc", msgpack.packb(value))
                pipe.hincrby("raw:versions", "doc", 1)
                pipe.execute()
            record("raw_pipelined", start)
    client.close()
    return {
        "sync_per_s": best["sync"],
        "raw_per_s": best["raw"],
        "pipelined_per_s": best["raw_pipelined"],
        "ratio": best["sync"] / best["raw"],
        "pipelined_ratio": best["sync"] / best["raw_pipelined"],
    }


def _fill_workspace(root: Path, total: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    size = 4 << 20
    for index in range(max(1, total // size)):
        (root / f"file{index:03d}.bin").write_bytes(os.urandom(size))


def bench_restore(url: str, scratch: Path, megabytes: int) -> dict[str, float]:
    with create_state_synchronizer(url, flush_interval_s=3600) as sync:
        sync.initialize_sync("big")
        for index in range(10):
            sync.update_state(
                "big", f"critical{index}", {"step": index, "pad": "c" * 1000}
            )
        for index in range(10):
            sync.update_state(
                "big", f"op{index}", {"queue": list(range(1000))}, tier="operational"
            )
        value_mb = megabytes * 2 // 5
        for index in range(value_mb):
            blob = os.urandom(1 << 20)
            sync.update_state("big", f"cache{index}", blob, tier="non_critical")
            sync.flush()
        workspace = scratch / "workspace"
        _fill_workspace(workspace, (megabytes - value_mb) << 20)

        start = time.perf_counter()
        info = sync.checkpoint("big", workspace=workspace)
        checkpoint_s = time.perf_counter() - start

        target = scratch / "restored"
        start = time.perf_counter()
        handle = sync.restore("big", info.checkpoint_id, workspace=target)
        critical_s = time.perf_counter() - start
        handle.wait(600)
        full_s = time.perf_counter() - start
    total = info.state_bytes + (info.workspace_bytes or 0)
    return {
        "total_mb": total / (1 << 20),
        "checkpoint_s": checkpoint_s,
        "critical_s": critical_s,
        "full_s": full_s,
        "ratio": critical_s / full_s,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=3000, help="updates per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs; best is kept")
    parser.add_argument("--restore-mb", type=int, default=100, help="state size in MB")
    args = parser.parse_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="bench-statestore-"))
    server = RedisServer(scratch / "redis").start()
    try:
        sent = bench_bytes(server.url)
        rate = bench_throughput(server.url, args.updates, args.repeats)
        restore = bench_restore(server.url, scratch, args.restore_mb)
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)

    print("| benchmark | incontainer | raw redis-py | ratio | target |")
    print("|---|---|---|---|---|")
    print(
        f"| bytes for a one-field change of a {sent['document_bytes'] / 1e6:.2f} MB "
        f"document | {sent['patch_bytes']:.0f} B | {sent['whole_bytes']:.0f} B "
        f"| {sent['ratio']:.4%} | <= 1% |"
    )
    print(
        f"| critical updates per second (raw: HSET + HINCRBY one at a time) "
        f"| {rate['sync_per_s']:.0f} | {rate['raw_per_s']:.0f} "
        f"| {rate['ratio']:.0%} | >= 50% |"
    )
    print(
        f"| critical updates per second (raw: both in one pipeline) "
        f"| {rate['sync_per_s']:.0f} | {rate['pipelined_per_s']:.0f} "
        f"| {rate['pipelined_ratio']:.0%} | (for reference) |"
    )
    print(
        f"| restore of {restore['total_mb']:.0f} MB: critical state vs complete "
        f"| {restore['critical_s'] * 1000:.1f} ms | {restore['full_s'] * 1000:.0f} ms "
        f"| {restore['ratio']:.1%} | <= 10% |"
    )
    print(f"\ncheckpoint of the same state took {restore['checkpoint_s']:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
