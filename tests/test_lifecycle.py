"""The lifecycle state machine: allowed moves, errors, events."""

from __future__ import annotations

import pytest

from incontainer.actors.lifecycle import TRANSITIONS, Lifecycle
from incontainer.config import ContainerEvent, ContainerState, EventType
from incontainer.errors import InvalidStateError

S = ContainerState


def _recorder() -> tuple[list[ContainerEvent], Lifecycle]:
    events: list[ContainerEvent] = []
    return events, Lifecycle("c-1", events.extend)


def test_full_lifecycle_emits_events_in_order() -> None:
    events, lifecycle = _recorder()
    for state in (S.CREATED, S.RUNNING, S.SUSPENDED, S.RESUMING, S.RUNNING):
        lifecycle.move(state)
    lifecycle.move(S.TERMINATING)
    lifecycle.move(S.TERMINATED)
    specific = [e.type for e in events if e.type is not EventType.STATE_CHANGED]
    assert specific == [
        EventType.CREATED,
        EventType.STARTED,
        EventType.SUSPENDED,
        EventType.RESUMED,
        EventType.TERMINATED,
    ]
    changes = [e for e in events if e.type is EventType.STATE_CHANGED]
    assert len(changes) == 7
    assert changes[0].previous_state is S.CREATING
    assert changes[-1].state is S.TERMINATED


def test_every_transition_emits_state_changed() -> None:
    for source, targets in TRANSITIONS.items():
        for target in targets:
            events: list[ContainerEvent] = []
            Lifecycle("c", events.extend, source).move(target)
            assert events[-1].type is EventType.STATE_CHANGED
            assert (events[-1].previous_state, events[-1].state) == (source, target)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (S.CREATING, S.RUNNING),
        (S.CREATED, S.SUSPENDED),
        (S.TERMINATED, S.RUNNING),
        (S.SUSPENDED, S.RUNNING),
        (S.FAILED, S.RUNNING),
    ],
)
def test_illegal_transition_names_current_state(
    source: ContainerState, target: ContainerState
) -> None:
    events: list[ContainerEvent] = []
    lifecycle = Lifecycle("c-9", events.extend, source)
    with pytest.raises(InvalidStateError) as caught:
        lifecycle.move(target)
    assert caught.value.state == source.value
    assert source.value in str(caught.value)
    assert lifecycle.state is source
    assert events == []


def test_require_rejects_other_states() -> None:
    _, lifecycle = _recorder()
    with pytest.raises(InvalidStateError, match="it is creating") as caught:
        lifecycle.require("execute", S.RUNNING)
    assert caught.value.operation == "execute"


def test_terminated_is_final() -> None:
    assert TRANSITIONS[S.TERMINATED] == frozenset()
    for state, targets in TRANSITIONS.items():
        if state not in (S.TERMINATED, S.TERMINATING, S.CREATING):
            assert S.TERMINATING in targets, state
