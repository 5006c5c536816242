"""The scheduler actor on a real local Ray with real sandboxes."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray

from incontainer import (
    ContainerConfig,
    ContainerState,
    InvalidInputError,
    PolicyViolationError,
    SecurityContext,
    Workload,
    create_container_manager,
)
from incontainer.manager import ContainerManager
from incontainer.scheduler.client import stop_scheduler

NAMESPACE = "incontainer-test"


@pytest.fixture
def manager(
    ray_cluster: None, redis_url: str, tmp_path: Path
) -> Iterator[ContainerManager]:
    with create_container_manager(
        redis_url=redis_url, data_dir=tmp_path / "data", namespace=NAMESPACE
    ) as created:
        assert ray.get(created.scheduler().wait_ready.remote(120))
        yield created
        stop_scheduler(NAMESPACE)


def _auto(name: str, code: str) -> Workload:
    return Workload(
        name,
        "python",
        ("-c", code),
        config=ContainerConfig(name=name, environment="auto"),
    )


def test_submit_routes_plain_python_to_wasm(manager: ContainerManager) -> None:
    handle = manager.submit(_auto("sum", "print(sum(range(10)))"))
    outcome = handle.result(timeout=120)
    assert outcome.error is None
    assert outcome.result is not None
    assert outcome.result.stdout == b"45\n"
    assert outcome.placement["backend"] == "wasm"
    explained = handle.explain()
    assert explained["chosen"].startswith("wasm@")
    assert explained["costs"]


def test_map_returns_every_result_once(manager: ContainerManager) -> None:
    workloads = [_auto(f"sq-{i}", f"print({i} * {i})") for i in range(6)]
    seen = {}
    for handle, outcome in manager.map(workloads):
        assert handle.workload_id not in seen
        seen[handle.workload_id] = outcome
    outputs = sorted(int(o.result.stdout) for o in seen.values() if o.result)
    assert outputs == [i * i for i in range(6)]


def test_explain_without_running(manager: ContainerManager) -> None:
    explained = manager.explain(_auto("lz", "import lzma"))
    excluded = [e for e in explained["excluded"] if e["placement"].startswith("wasm")]
    assert excluded
    assert any("lzma" in r for r in excluded[0]["reasons"])


def test_submit_rejects_non_workload(manager: ContainerManager) -> None:
    with pytest.raises(InvalidInputError):
        manager.submit("print(1)")  # type: ignore[arg-type]


def test_missing_module_routes_or_escalates_to_gvisor(
    manager: ContainerManager,
) -> None:
    if shutil.which("runsc") is None:
        pytest.skip("runsc not installed")
    code = "import lzma; print(len(lzma.compress(b'a' * 1000)) < 1000)"
    outcome = manager.submit(_auto("lzma", code)).result(timeout=180)
    assert outcome.error is None, outcome.error
    assert outcome.result is not None
    assert outcome.result.stdout == b"True\n"
    assert outcome.placement["backend"] == "gvisor"


def test_wasm_failure_for_capability_escalates(manager: ContainerManager) -> None:
    if shutil.which("runsc") is None:
        pytest.skip("runsc not installed")
    # The import is hidden from static analysis, so routing picks WASM and
    # the run fails there with ModuleNotFoundError.
    code = "import importlib; m = importlib.import_module('lz' + 'ma'); print('ok')"
    outcome = manager.submit(_auto("hidden", code)).result(timeout=180)
    assert outcome.result is not None
    assert outcome.result.stdout == b"ok\n"
    assert outcome.placement["backend"] == "gvisor"
    assert any("escalated" in e for e in outcome.placement["escalations"])
    assert outcome.placement["attempts"][0].startswith("wasm@")


def _ended(manager: ContainerManager, container_id: str) -> bool:
    """Wait until the background release has terminated ``container_id``."""
    for _ in range(600):
        state = manager.get_container_info(container_id).state
        if state is ContainerState.TERMINATED:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("environment", ["client", "server"])
def test_reused_actors_start_each_workload_clean(
    manager: ContainerManager, environment: str
) -> None:
    if environment == "server" and shutil.which("runsc") is None:
        pytest.skip("runsc not installed")
    scheduler = manager.scheduler()
    before = ray.get(scheduler.statistics.remote())["pool"]["reused"]
    code = (
        "import os\n"
        "print(sorted(os.listdir('/workspace')))\n"
        "open('/workspace/left-behind.txt', 'w').write('x')\n"
    )
    outcomes = []
    for index in range(4):
        config = ContainerConfig(name=f"clean-{index}", environment=environment)
        workload = Workload(f"clean-{index}", "python", ("-c", code), config=config)
        outcomes.append(manager.submit(workload).result(timeout=180))
    for outcome in outcomes:
        assert outcome.error is None, outcome.error
        assert outcome.result is not None
        assert outcome.result.stdout == b"[]\n", outcome.result.stderr
        assert _ended(manager, outcome.container_id)
    assert len({o.container_id for o in outcomes}) == 4
    reused = ray.get(scheduler.statistics.remote())["pool"]["reused"]
    assert reused - before >= 3


def test_failed_creation_ends_the_actor_lease(manager: ContainerManager) -> None:
    scheduler = manager.scheduler()
    security = SecurityContext(permissions=frozenset({"execute"}))
    workload = Workload(
        "no-create",
        "echo",
        ("x",),
        config=ContainerConfig(name="no-create", environment="client"),
        security=security,
    )
    outcome = manager.submit(workload).result(timeout=120)
    assert isinstance(outcome.error, PolicyViolationError)
    assert ray.get(scheduler.statistics.remote())["pool"]["leased"] == 0


def test_map_rejects_a_bad_item_before_submitting(manager: ContainerManager) -> None:
    scheduler = manager.scheduler()
    before = ray.get(scheduler.statistics.remote())["submitted"]
    batch = [_auto("good", "print(1)"), "not-a-workload", _auto("also", "print(2)")]
    with pytest.raises(InvalidInputError) as caught:
        list(manager.map(batch))  # type: ignore[list-item]
    assert caught.value.field == "workloads[1]"
    assert ray.get(scheduler.statistics.remote())["submitted"] == before
