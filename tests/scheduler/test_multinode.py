"""Routing across several Ray nodes, and losing a node mid-batch.

Uses ``ray.cluster_utils.Cluster``: several raylets on this machine, one of
them with the ``gvisor`` resource. The session's single-node Ray is shut
down first and started again by the next test that needs it.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
from ray.cluster_utils import Cluster

from incontainer import ContainerConfig, Workload, create_container_manager
from incontainer._util.ray_local import configure_loopback_env
from incontainer._util.redis_server import RedisServer
from incontainer.manager import ContainerManager
from incontainer.scheduler.client import map_workloads, stop_scheduler
from incontainer.scheduler.service import SchedulerSettings

NAMESPACE = "incontainer-multinode"
pytestmark = pytest.mark.slow

# Ray notices a dead raylet through missed health checks. These values make
# that take about 2 s instead of the default 30 s, so a removed node is
# rerouted quickly. They apply only to this test cluster.
FAST_HEALTH_CHECKS = {
    "health_check_initial_delay_ms": 500,
    "health_check_period_ms": 500,
    "health_check_failure_threshold": 4,
}


@pytest.fixture(scope="module")
def cluster(redis_server: RedisServer) -> Iterator[dict[str, Any]]:
    if ray.is_initialized():
        ray.shutdown()
    configure_loopback_env()
    nodes = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "include_dashboard": False,
            "_system_config": FAST_HEALTH_CHECKS,
        },
    )
    gvisor_resources = {"gvisor": 1000.0} if shutil.which("runsc") else {}
    gvisor_node = nodes.add_node(num_cpus=1, resources=gvisor_resources)
    plain_node = nodes.add_node(num_cpus=1)
    # A second plain worker, so that some worker hosts neither the driver
    # nor the scheduler and can be removed.
    spare_node = nodes.add_node(num_cpus=1)
    nodes.wait_for_nodes()
    ray.init(address=nodes.address, namespace=NAMESPACE, log_to_driver=False)
    yield {
        "cluster": nodes,
        "gvisor": gvisor_node.node_id,
        "workers": (plain_node, spare_node, gvisor_node),
    }
    ray.shutdown()
    nodes.shutdown()


@pytest.fixture
def manager(
    cluster: dict[str, Any], redis_server: RedisServer, tmp_path: Path
) -> Iterator[ContainerManager]:
    with create_container_manager(
        redis_url=redis_server.url, data_dir=tmp_path / "data", namespace=NAMESPACE
    ) as created:
        yield created
        stop_scheduler(NAMESPACE)


def _auto(name: str, code: str) -> Workload:
    return Workload(
        name,
        "python",
        ("-c", code),
        config=ContainerConfig(name=name, environment="auto"),
    )


def test_routing_respects_gvisor_resource(
    cluster: dict[str, Any], manager: ContainerManager
) -> None:
    if shutil.which("runsc") is None:
        pytest.skip("runsc not installed")
    scheduler = manager.scheduler(SchedulerSettings(pool_size=1, slots=1))
    assert ray.get(scheduler.wait_ready.remote(180))
    native = Workload(
        "native",
        "/bin/busybox",
        ("echo", "native"),
        config=ContainerConfig(name="native", environment="auto"),
    )
    lzma = _auto("lzma", "import lzma; print(len(lzma.compress(b'x')) > 0)")
    plain = [_auto(f"p{i}", f"print({i})") for i in range(6)]
    results = {
        outcome.workload.name: outcome
        for _, outcome in map_workloads(scheduler, [native, lzma, *plain])
    }
    for name in ("native", "lzma"):
        assert results[name].ok, results[name].error
        assert results[name].placement["node_id"] == cluster["gvisor"]
        assert results[name].placement["backend"] == "gvisor"
    wasm_nodes = {
        results[w.name].placement["node_id"]
        for w in plain
        if results[w.name].placement["backend"] == "wasm"
    }
    assert len(wasm_nodes) >= 2, "load should spread WASM work over nodes"


def test_node_removed_mid_batch_completes_exactly_once(
    cluster: dict[str, Any], manager: ContainerManager
) -> None:
    scheduler = manager.scheduler(SchedulerSettings(pool_size=1, slots=1))
    assert ray.get(scheduler.wait_ready.remote(180))
    # Several raylets share 127.0.0.1, so the driver may attach to any of
    # them. The node removed mid-batch hosts neither the driver nor the
    # scheduler.
    keep = {
        ray.get_runtime_context().get_node_id(),
        ray.get(scheduler.node_id.remote()),
    }
    removable = next(n for n in cluster["workers"] if n.node_id not in keep)
    # Each workload sleeps 1 s in the guest, so with one slot per node the
    # batch of 12 takes several seconds and the removal lands mid-batch.
    workloads = [
        Workload(
            f"sleep-{i}",
            "python",
            ("-c", f"import time; time.sleep(1); print({i})"),
            config=ContainerConfig(name=f"sleep-{i}", environment="client"),
        )
        for i in range(12)
    ]
    seen: dict[str, Any] = {}
    removed = threading.Event()
    for handle, outcome in map_workloads(scheduler, workloads):
        assert handle.workload_id not in seen
        seen[handle.workload_id] = outcome
        if len(seen) == 2 and not removed.is_set():
            cluster["cluster"].remove_node(removable)
            removed.set()
    assert removed.is_set()
    assert len(seen) == len(workloads)
    outputs = sorted(int(o.result.stdout) for o in seen.values() if o.result)
    failures = [o.error for o in seen.values() if not o.ok]
    assert failures == []
    assert outputs == list(range(12))
    rerouted = [o for o in seen.values() if o.placement["escalations"]]
    final_nodes = {o.placement["node_id"] for o in seen.values()}
    assert removable.node_id not in final_nodes or rerouted
