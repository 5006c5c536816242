"""The container lifecycle state machine and the events its transitions emit."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from incontainer.config import ContainerEvent, ContainerState, EventType
from incontainer.errors import InvalidStateError

__all__ = ["TRANSITIONS", "Lifecycle", "events_for_transition"]

S = ContainerState

# Allowed moves. Every state but TERMINATED can move to TERMINATING so that a
# container can always be cleaned up; FAILED and BLOCKED keep their sandbox
# until then.
TRANSITIONS: dict[ContainerState, frozenset[ContainerState]] = {
    S.CREATING: frozenset({S.CREATED, S.FAILED}),
    S.CREATED: frozenset({S.RUNNING, S.TERMINATING, S.FAILED}),
    S.RUNNING: frozenset({S.SUSPENDED, S.TERMINATING, S.FAILED, S.BLOCKED}),
    S.SUSPENDED: frozenset({S.RESUMING, S.TERMINATING, S.FAILED}),
    S.RESUMING: frozenset({S.RUNNING, S.FAILED, S.TERMINATING}),
    S.TERMINATING: frozenset({S.TERMINATED, S.FAILED}),
    S.FAILED: frozenset({S.TERMINATING}),
    S.BLOCKED: frozenset({S.RUNNING, S.TERMINATING, S.FAILED}),
    S.TERMINATED: frozenset(),
}

# The specific event a transition into a state emits, besides state-changed.
_ENTRY_EVENTS: dict[ContainerState, EventType] = {
    S.CREATED: EventType.CREATED,
    S.SUSPENDED: EventType.SUSPENDED,
    S.TERMINATED: EventType.TERMINATED,
    S.FAILED: EventType.FAILED,
    S.BLOCKED: EventType.BLOCKED,
}


def events_for_transition(
    container_id: str,
    previous: ContainerState,
    state: ContainerState,
    *,
    detail: str = "",
    now: float | None = None,
) -> list[ContainerEvent]:
    """Return the events for one transition: the specific one, then state-changed."""
    timestamp = time.time() if now is None else now
    kind = _ENTRY_EVENTS.get(state)
    if state is S.RUNNING:
        kind = EventType.RESUMED if previous is S.RESUMING else EventType.STARTED
    events = []
    if kind is not None:
        events.append(
            ContainerEvent(kind, container_id, timestamp, previous, state, detail)
        )
    events.append(
        ContainerEvent(
            EventType.STATE_CHANGED, container_id, timestamp, previous, state, detail
        )
    )
    return events


class Lifecycle:
    """The state of one container, changed only through allowed transitions.

    ``on_events`` receives the events of each transition while the lock is
    held, so observers see transitions in the order they happened.
    """

    def __init__(
        self,
        container_id: str,
        on_events: Callable[[list[ContainerEvent]], None],
        state: ContainerState = S.CREATING,
    ):
        self.container_id = container_id
        self._state = state
        self._on_events = on_events
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"<Lifecycle {self.container_id} {self._state.value}>"

    @property
    def state(self) -> ContainerState:
        return self._state

    def require(self, operation: str, *allowed: ContainerState) -> None:
        """Raise InvalidStateError unless the current state is one of ``allowed``."""
        current = self._state
        if current not in allowed:
            names = ", ".join(s.value for s in allowed)
            raise InvalidStateError(
                f"cannot {operation} container {self.container_id!r}: it is "
                f"{current.value}, and {operation} needs it to be {names}",
                container_id=self.container_id,
                state=current.value,
                operation=operation,
            )

    def move(self, target: ContainerState, *, detail: str = "") -> ContainerState:
        """Move to ``target`` and emit its events; return the previous state."""
        with self._lock:
            previous = self._state
            if target not in TRANSITIONS[previous]:
                raise InvalidStateError(
                    f"invalid transition of container {self.container_id!r} from "
                    f"{previous.value} to {target.value}",
                    container_id=self.container_id,
                    state=previous.value,
                    operation=target.value,
                )
            self._state = target
            self._on_events(
                events_for_transition(
                    self.container_id, previous, target, detail=detail
                )
            )
            return previous
