"""Validation and msgpack encoding of state values.

A state value is a JSON-like document (see ``jsonpatch``) that msgpack can
encode: ``None``, ``bool``, integers in the msgpack range (-2**63 to
2**64 - 1), finite floats, ``str``, ``bytes``, lists (tuples become lists)
and dicts with ``str`` keys. Depth counts nested containers: ``1`` and
``"x"`` have depth 0, ``[]`` has depth 1 and ``{"a": [1]}`` has depth 2.
"""

from __future__ import annotations

import math
import re
from typing import Any, Final

import msgpack

from incontainer.errors import InvalidInputError

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "check_container_id",
    "check_key",
    "check_value",
    "pack",
    "unpack",
    "value_depth",
]

DEFAULT_MAX_DEPTH: Final = 128
MAX_KEY_LENGTH: Final = 1024
_INT_MIN: Final = -(2**63)
_INT_MAX: Final = 2**64 - 1
# Braces are excluded because a container id becomes a Redis Cluster hash tag.
_CONTAINER_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def check_container_id(container_id: object) -> str:
    """Return ``container_id`` or raise InvalidInputError naming the rule."""
    if not isinstance(container_id, str) or not _CONTAINER_ID_RE.fullmatch(
        container_id
    ):
        raise InvalidInputError(
            f"invalid container_id {container_id!r}: expected 1 to 128 letters, "
            "digits, '_', '.' or '-', starting with a letter or digit",
            field="container_id",
            value=container_id,
        )
    return container_id


def check_key(key: object) -> str:
    """Return the state key ``key`` or raise InvalidInputError."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidInputError(
            f"invalid state key {key!r}: expected a non-empty string of at most "
            f"{MAX_KEY_LENGTH} characters",
            field="key",
            value=key,
        )
    if "\x00" in key:
        raise InvalidInputError(
            f"invalid state key {key!r}: it contains a NUL character",
            field="key",
            value=key,
        )
    return key


def _invalid_value(key: str, path: str, value: object, reason: str) -> Exception:
    where = f"at {path!r} " if path else ""
    return InvalidInputError(
        f"invalid value for state key {key!r} {where}({type(value).__name__} "
        f"{_short(value)}): {reason}",
        field=f"{key}{path}" if key else path,
        value=value,
    )


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_value(
    value: object, *, key: str = "", max_depth: int = DEFAULT_MAX_DEPTH
) -> int:
    """Check that ``value`` is a valid state value and return its depth.

    Raises InvalidInputError naming the key and the JSON Pointer of the first
    invalid part: an unsupported type, a non-string dict key, an integer out
    of the msgpack range, a NaN or infinite float, or nesting deeper than
    ``max_depth`` containers.
    """
    # Iterative walk: a deep value must raise InvalidInputError, not
    # RecursionError. Each item is (value, JSON Pointer, depth of its parent).
    stack: list[tuple[object, str, int]] = [(value, "", 0)]
    deepest = 0
    while stack:
        item, path, depth = stack.pop()
        if item is None or isinstance(item, bool | str | bytes):
            continue
        if isinstance(item, int):
            if not _INT_MIN <= item <= _INT_MAX:
                raise _invalid_value(key, path, item, "integer out of msgpack range")
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                raise _invalid_value(key, path, item, "JSON has no NaN or infinity")
            continue
        depth += 1
        if depth > max_depth:
            raise _invalid_value(
                key, path, item, f"nested deeper than the limit of {max_depth} levels"
            )
        deepest = max(deepest, depth)
        _push_children(item, path, depth, key, stack)
    return deepest


def _push_children(
    item: object, path: str, depth: int, key: str, stack: list[tuple[object, str, int]]
) -> None:
    if isinstance(item, list | tuple):
        for index, child in enumerate(item):
            stack.append((child, f"{path}/{index}", depth))
        return
    if isinstance(item, dict):
        for name, child in item.items():
            if not isinstance(name, str):
                raise _invalid_value(
                    key, path, name, "object keys must be strings (JSON objects)"
                )
            escaped = name.replace("~", "~0").replace("/", "~1")
            stack.append((child, f"{path}/{escaped}", depth))
        return
    raise _invalid_value(key, path, item, "msgpack cannot encode this type")


def value_depth(value: object) -> int:
    """Return the nesting depth of a value already known to be valid."""
    return check_value(value, max_depth=2**31)


def pack(value: object) -> bytes:
    """Encode a checked value as msgpack (str as str, bytes as bin)."""
    data: bytes = msgpack.packb(value, use_bin_type=True)
    return data


def unpack(data: bytes) -> Any:
    """Decode msgpack written by ``pack`` (arrays become lists)."""
    return msgpack.unpackb(data, raw=False, strict_map_key=True, use_list=True)
