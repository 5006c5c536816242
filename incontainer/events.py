"""Event listeners registered on a manager."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from incontainer.config import ContainerEvent, EventType
from incontainer.errors import InvalidInputError

__all__ = ["EventBus", "Listener"]

logger = logging.getLogger(__name__)

Listener = Callable[[ContainerEvent], None]


def _event_types(types: Iterable[EventType | str] | str | None) -> frozenset[EventType]:
    if types is None or types == "*":
        return frozenset(EventType)
    if isinstance(types, str | EventType):
        types = [types]
    result = set()
    for item in types:
        try:
            result.add(EventType(item))
        except ValueError:
            choices = ", ".join(e.value for e in EventType)
            raise InvalidInputError(
                f"invalid event type {item!r}: expected one of {choices}",
                field="types",
                value=item,
            ) from None
    return frozenset(result)


class EventBus:
    """Delivers events to listeners in registration order.

    A listener that raises is logged and skipped: the operation that emitted
    the event has already happened, so there is no caller to give it to.
    """

    def __init__(self) -> None:
        self._listeners: list[tuple[frozenset[EventType], Listener]] = []
        self._lock = threading.Lock()
        self.failures = 0

    def __repr__(self) -> str:
        return f"<EventBus listeners={len(self._listeners)} failures={self.failures}>"

    def add(
        self, types: Iterable[EventType | str] | str | None, callback: Listener
    ) -> Callable[[], None]:
        if not callable(callback):
            raise InvalidInputError(
                f"invalid event listener {callback!r}: expected a callable",
                field="callback",
                value=callback,
            )
        entry = (_event_types(types), callback)
        with self._lock:
            self._listeners.append(entry)

        def remove() -> None:
            with self._lock:
                if entry in self._listeners:
                    self._listeners.remove(entry)

        return remove

    def dispatch(self, events: Iterable[ContainerEvent]) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for event in events:
            for types, callback in listeners:
                if event.type not in types:
                    continue
                try:
                    callback(event)
                except Exception:
                    self.failures += 1
                    logger.exception(
                        "event listener %r failed on %s of container %s",
                        callback,
                        event.type.value,
                        event.container_id,
                    )
