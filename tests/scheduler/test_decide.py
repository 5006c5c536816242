"""Feasibility, cost estimates and placement decisions (pure logic)."""

from __future__ import annotations

import pytest

from incontainer.config import (
    ContainerConfig,
    EnvironmentType,
    Resources,
    SecurityContext,
)
from incontainer.errors import BackendUnavailableError, UnschedulableError
from incontainer.scheduler.cost import CostModel, Placement
from incontainer.scheduler.feasibility import analyze
from incontainer.scheduler.placement import NodeView, decide, unschedulable_error
from incontainer.workload import Workload


def _python(code: str, **config: object) -> Workload:
    return Workload(
        "w", "python", ("-c", code), config=ContainerConfig.from_dict(config or {})
    )


def _node(node_id: str, *, gvisor: bool = True, **kwargs: object) -> NodeView:
    values: dict[str, object] = {
        "memory_mb": 8192.0,
        "reserved_mb": 0.0,
        "queued_s": 0.0,
        "queue_full": False,
        "warm_actor": True,
    }
    values.update(kwargs)
    return NodeView(node_id=node_id, gvisor=gvisor, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("import lzma", "missing from the WASM CPython build"),
        ("import ctypes", "missing from the WASM CPython build"),
        ("from multiprocessing import Pool", "missing from the WASM CPython build"),
        ("import numpy as np", "not installed in the WASM CPython"),
        ("import subprocess; subprocess.run(['ls'])", "subprocesses"),
        ("import os; os.system('ls')", "subprocesses"),
        ("import urllib.request", "network"),
    ],
)
def test_wasm_blockers_detected(code: str, reason: str) -> None:
    blockers = analyze(_python(code)).wasm_blockers()
    assert any(reason in b for b in blockers), blockers


def test_plain_python_is_wasm_feasible() -> None:
    requirements = analyze(_python("import json, csv, hashlib; print(1)"))
    assert requirements.wasm_blockers() == []
    assert requirements.kind.startswith("python:-c:")


def test_script_in_files_is_analyzed() -> None:
    workload = Workload(
        "s",
        "python",
        ("main.py",),
        files={"main.py": b"import helper\nimport lzma\n", "helper.py": b"x = 1\n"},
    )
    requirements = analyze(workload)
    assert requirements.kind == "python:main.py"
    assert requirements.missing_modules == ("lzma",)
    assert requirements.third_party_modules == ()


def test_native_command_and_maximum_isolation() -> None:
    native = analyze(Workload("n", "/bin/busybox", ("true",)))
    assert native.native
    assert any("native binary" in b for b in native.wasm_blockers())
    strict = analyze(
        Workload(
            "m", "echo", ("x",), security=SecurityContext(isolation_level="maximum")
        )
    )
    assert any("maximum isolation" in b for b in strict.wasm_blockers())


def test_decide_prefers_cheaper_and_explains() -> None:
    requirements = analyze(_python("print(1)"))
    decision = decide(
        "w-1", "w", requirements, EnvironmentType.AUTO, [_node("n1")], CostModel()
    )
    assert decision.chosen == Placement("wasm", "n1")
    explained = decision.explain()
    assert explained["backend"] == "wasm"
    assert {c["backend"] for c in explained["costs"]} == {"wasm", "gvisor"}
    assert "est" in explained["reason"]


def test_decide_excludes_with_reasons() -> None:
    requirements = analyze(_python("import lzma"))
    decision = decide(
        "w-2",
        "w",
        requirements,
        EnvironmentType.AUTO,
        [_node("n1", gvisor=False), _node("n2")],
        CostModel(),
    )
    assert decision.chosen == Placement("gvisor", "n2")
    excluded = dict(decision.excluded)
    assert any("lzma" in r for r in excluded[str(Placement("wasm", "n1"))])


def test_no_gvisor_node_is_unschedulable_with_hint() -> None:
    requirements = analyze(Workload("n", "/bin/busybox", ("true",)))
    decision = decide(
        "w-3",
        "n",
        requirements,
        EnvironmentType.AUTO,
        [_node("n1", gvisor=False)],
        CostModel(),
    )
    assert decision.chosen is None
    assert "no gVisor node" in decision.reason()
    assert "apt-get install runsc" in decision.reason()


def test_pinned_environment_and_memory() -> None:
    workload = Workload(
        "p",
        "echo",
        ("x",),
        config=ContainerConfig(
            environment=EnvironmentType.SERVER, resources=Resources(memory_mb=4096)
        ),
    )
    requirements = analyze(workload)
    decision = decide(
        "w-4",
        "p",
        requirements,
        EnvironmentType.SERVER,
        [_node("small", memory_mb=2048.0), _node("big", memory_mb=16384.0)],
        CostModel(),
    )
    assert decision.chosen == Placement("gvisor", "big")
    excluded = dict(decision.excluded)
    assert any("pins gVisor" in r for r in excluded[str(Placement("wasm", "big"))])
    assert any("4096 MB" in r for r in excluded[str(Placement("gvisor", "small"))])


def test_queue_and_load_shift_choice() -> None:
    requirements = analyze(_python("print(1)"))
    busy = _node("busy", queued_s=5.0)
    idle = _node("idle")
    decision = decide(
        "w-5", "w", requirements, EnvironmentType.AUTO, [busy, idle], CostModel()
    )
    assert decision.chosen is not None
    assert decision.chosen.node_id == "idle"
    full = _node("idle", queue_full=True)
    decision = decide(
        "w-6", "w", requirements, EnvironmentType.AUTO, [busy, full], CostModel()
    )
    assert decision.chosen is not None
    assert decision.chosen.node_id == "busy"


def test_locality_prefers_node_with_data() -> None:
    requirements = analyze(_python("print(1)"))
    decision = decide(
        "w-7",
        "w",
        requirements,
        EnvironmentType.CLIENT,
        [_node("a"), _node("b")],
        CostModel(),
        transfer_bytes={"b": 500_000_000},
    )
    assert decision.chosen == Placement("wasm", "b")


def test_cost_model_learns_and_transfers_between_backends() -> None:
    model = CostModel()
    kind = "python:heavy.py"
    default, learned = model.run_s(kind, "wasm")
    assert not learned
    for _ in range(20):
        model.observe_run(kind, "gvisor", 1.0)
    gvisor, learned_g = model.run_s(kind, "gvisor")
    assert learned_g
    assert gvisor == pytest.approx(1.0, rel=0.01)
    wasm, learned_w = model.run_s(kind, "wasm")
    assert learned_w
    assert wasm > 5 * gvisor
    for _ in range(20):
        model.observe_run(kind, "wasm", 0.5)
    assert model.run_s(kind, "wasm")[0] == pytest.approx(0.5, rel=0.01)
    assert default != model.run_s(kind, "wasm")[0]


def test_cold_start_costs_more_than_warm() -> None:
    model = CostModel()
    warm = model.estimate(
        Placement("wasm", "n"), "tool:echo", warm=True, queued_s=0, transfer_bytes=0
    )
    cold = model.estimate(
        Placement("wasm", "n"), "tool:echo", warm=False, queued_s=0, transfer_bytes=0
    )
    assert cold.total_s > warm.total_s


def test_baseline_policies_are_honoured() -> None:
    requirements = analyze(_python("print(1)"))
    nodes = [_node("n1"), _node("n2")]

    def chosen(policy: str, turn: int = 0) -> Placement | None:
        return decide(
            "w",
            "w",
            requirements,
            EnvironmentType.AUTO,
            nodes,
            CostModel(),
            policy=policy,
            turn=turn,
        ).chosen

    gvisor = chosen("gvisor")
    assert gvisor is not None
    assert gvisor.backend == "gvisor"
    wasm = chosen("wasm")
    assert wasm is not None
    assert wasm.backend == "wasm"
    rotated = {chosen("round_robin", turn) for turn in range(4)}
    assert len(rotated) == 4
    native = analyze(Workload("n", "/bin/busybox", ("true",)))
    fallback = decide(
        "w", "n", native, EnvironmentType.AUTO, nodes, CostModel(), policy="wasm"
    ).chosen
    assert fallback is not None
    assert fallback.backend == "gvisor"


def test_loop_bound_sends_cpu_heavy_python_to_gvisor() -> None:
    heavy = analyze(_python("s = 0\nfor i in range(5_000_000):\n    s += i\nprint(s)"))
    assert heavy.cpu_estimate_s is not None
    assert heavy.cpu_estimate_s > 1.0
    light = analyze(_python("print(sum(range(10)))"))
    assert light.cpu_estimate_s is None
    model = CostModel()
    nodes = [_node("n1")]
    chosen = decide("h", "h", heavy, EnvironmentType.AUTO, nodes, model).chosen
    assert chosen == Placement("gvisor", "n1")
    chosen = decide("l", "l", light, EnvironmentType.AUTO, nodes, model).chosen
    assert chosen == Placement("wasm", "n1")
    # Once the kind has run, the learned time replaces the static estimate.
    for _ in range(10):
        model.observe_run(heavy.kind, "wasm", 0.01)
    chosen = decide("h", "h", heavy, EnvironmentType.AUTO, nodes, model).chosen
    assert chosen == Placement("wasm", "n1")


def test_unschedulable_errors_name_the_real_cause() -> None:
    native = analyze(Workload("n", "/bin/busybox", ("true",)))
    no_gvisor = [_node("n1", gvisor=False)]
    decision = decide("w", "n", native, EnvironmentType.AUTO, no_gvisor, CostModel())
    error = unschedulable_error(decision, EnvironmentType.AUTO)
    assert isinstance(error, BackendUnavailableError)
    assert error.program == "runsc"
    assert "apt-get install runsc" in str(error)
    strict = analyze(
        Workload(
            "m", "echo", ("x",), security=SecurityContext(isolation_level="maximum")
        )
    )
    pinned = decide(
        "w", "m", strict, EnvironmentType.CLIENT, [_node("n1")], CostModel()
    )
    error = unschedulable_error(pinned, EnvironmentType.CLIENT)
    assert isinstance(error, UnschedulableError)
    assert any("maximum isolation" in r for r in error.reasons)
    assert "install runsc" not in str(error)
