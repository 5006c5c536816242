"""Conflict strategies and the three-way merge of JSON-like documents."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from incontainer.errors import InvalidInputError
from incontainer.statestore.jsonpatch import (
    ABSENT,
    copy_value,
    escape_token,
    same_value,
)

__all__ = ["ConflictStrategy", "MergeResult", "three_way_merge"]


class ConflictStrategy(enum.StrEnum):
    """Strategy of ``resolve_conflict`` for a stale update.

    CLIENT_WINS writes the value of the update that conflicted over the
    current one. SERVER_WINS keeps the current value and drops the update.
    VALUE writes an explicit value. MERGE merges the update and the current
    value against the common base version, path by path.
    """

    CLIENT_WINS = "client_wins"
    SERVER_WINS = "server_wins"
    VALUE = "value"
    MERGE = "merge"

    @classmethod
    def parse(cls, strategy: object) -> ConflictStrategy:
        """Accept a member or its name with ``_`` or ``-`` (``client-wins``)."""
        if isinstance(strategy, cls):
            return strategy
        if isinstance(strategy, str):
            normalized = strategy.strip().lower().replace("-", "_")
            for member in cls:
                if member.value == normalized:
                    return member
        raise InvalidInputError(
            f"invalid conflict strategy {strategy!r}: expected one of "
            f"{', '.join(member.value for member in cls)}",
            field="strategy",
            value=strategy,
        )


@dataclass(frozen=True, slots=True)
class MergeResult:
    """A merged document and the JSON Pointers that could not be merged.

    At an unmerged path both sides changed the base differently, and the
    merged document keeps the current (server) value there.
    """

    value: Any
    unmerged_paths: tuple[str, ...]


def three_way_merge(base: Any, ours: Any, theirs: Any) -> MergeResult:
    """Merge ``ours`` and ``theirs``, both derived from ``base``.

    Objects merge member by member. A member changed on one side only takes
    that side's value; changed the same way on both sides, it takes that
    value. Arrays and scalars are merged as whole values: when both sides
    changed one differently it is a conflict, reported in ``unmerged_paths``.
    ``ABSENT`` stands for a missing document or member.
    """
    conflicts: list[str] = []
    merged = _merge(base, ours, theirs, "", conflicts)
    return MergeResult(copy_value(merged), tuple(conflicts))


def _same(a: Any, b: Any) -> bool:
    if a is ABSENT or b is ABSENT:
        return a is b
    return same_value(a, b)


def _merge(base: Any, ours: Any, theirs: Any, path: str, conflicts: list[str]) -> Any:
    if _same(ours, theirs):
        return ours
    if _same(base, ours):
        return theirs
    if _same(base, theirs):
        return ours
    if isinstance(ours, dict) and isinstance(theirs, dict):
        base_map = base if isinstance(base, dict) else {}
        merged: dict[str, Any] = {}
        for key in [*theirs, *(k for k in ours if k not in theirs)]:
            value = _merge(
                base_map.get(key, ABSENT),
                ours.get(key, ABSENT),
                theirs.get(key, ABSENT),
                f"{path}/{escape_token(key)}",
                conflicts,
            )
            if value is not ABSENT:
                merged[key] = value
        return merged
    conflicts.append(path)
    return theirs
