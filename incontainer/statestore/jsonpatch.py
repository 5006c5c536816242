"""JSON Patch (RFC 6902) and JSON Pointer (RFC 6901) on Python values.

This is the reference implementation: the store applies the same operations
inside Redis (see ``_lua``) and the tests check that both agree.

Documents are JSON-like values: ``None``, ``bool``, ``int``, ``float``,
``str``, ``list`` and ``dict`` with ``str`` keys. ``bytes`` is accepted as an
opaque leaf because state values are msgpack, which has a binary type; a
``bytes`` value is equal only to an identical ``bytes`` value.

Equality follows RFC 6902 section 4.6: values are equal when they have the
same JSON type and equal contents. Numbers are equal when numerically equal
(``1 == 1.0``), but a boolean is never equal to a number (``true != 1``).
Object member order is ignored and array order is not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from incontainer.errors import PatchError

__all__ = [
    "ABSENT",
    "OPERATIONS",
    "apply_patch",
    "escape_token",
    "json_equal",
    "make_patch",
    "parse_pointer",
    "same_value",
    "validate_patch",
]

OPERATIONS: Final = frozenset({"add", "remove", "replace", "move", "copy", "test"})
_INDEX_RE = re.compile(r"0|[1-9][0-9]*")


class _Absent:
    """The value of a state key that does not exist yet."""

    _instance: _Absent | None = None

    def __new__(cls) -> _Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"

    def __reduce__(self) -> str:
        return "ABSENT"


ABSENT: Final = _Absent()


def escape_token(token: str) -> str:
    """Escape one reference token for a JSON Pointer (``~`` then ``/``)."""
    return token.replace("~", "~0").replace("/", "~1")


def parse_pointer(pointer: str) -> list[str]:
    """Split a JSON Pointer into unescaped reference tokens.

    ``""`` is the whole document. Raises ValueError for a pointer that does
    not start with ``/`` or that holds a ``~`` not followed by ``0`` or ``1``.
    """
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ValueError(f"JSON Pointer {pointer!r} must be empty or start with '/'")
    tokens = pointer[1:].split("/")
    for token in tokens:
        if re.search(r"~(?![01])", token):
            raise ValueError(f"JSON Pointer {pointer!r} has an invalid '~' escape")
    # RFC 6901 section 4: decode ~1 before ~0, so "~01" becomes "~1".
    return [t.replace("~1", "/").replace("~0", "~") for t in tokens]


def json_equal(a: object, b: object) -> bool:
    """Compare two JSON-like values as RFC 6902 section 4.6 does."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, str) or isinstance(b, str):
        return type(a) is type(b) and a == b
    if isinstance(a, bytes) or isinstance(b, bytes):
        return isinstance(a, bytes) and isinstance(b, bytes) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(json_equal, a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return False
        return all(json_equal(value, b[key]) for key, value in a.items())
    return a is None and b is None


def same_value(a: object, b: object) -> bool:
    """Compare exactly: equal values of the same Python type (1 differs from 1.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        assert isinstance(b, list)
        return len(a) == len(b) and all(map(same_value, a, b))
    if isinstance(a, dict):
        assert isinstance(b, dict)
        if a.keys() != b.keys():
            return False
        return all(same_value(value, b[key]) for key, value in a.items())
    return a == b


def copy_value(value: Any) -> Any:
    """Deep-copy a JSON-like value (lists and dicts; leaves are immutable)."""
    if isinstance(value, dict):
        return {key: copy_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [copy_value(item) for item in value]
    return value


# -- validation ---------------------------------------------------------------


def validate_patch(patch: object) -> list[dict[str, Any]]:
    """Check the structure of a patch and return it as a list of dicts.

    Raises PatchError naming the operation index and member at fault. Members
    an operation does not define are ignored, as RFC 6902 section 4 requires.
    """
    if not isinstance(patch, Sequence) or isinstance(patch, str | bytes):
        raise PatchError(
            f"invalid patch {patch!r}: expected a list of operation objects",
            value=patch,
        )
    operations: list[dict[str, Any]] = []
    for index, operation in enumerate(patch):
        operations.append(_validate_operation(index, operation))
    return operations


def _validate_operation(index: int, operation: object) -> dict[str, Any]:
    if not isinstance(operation, Mapping):
        raise PatchError(
            f"invalid patch operation {index}: expected an object, got {operation!r}",
            op_index=index,
            value=operation,
        )
    name = operation.get("op")
    if name not in OPERATIONS:
        raise PatchError(
            f"invalid patch operation {index}: 'op' must be one of "
            f"{sorted(OPERATIONS)}, got {name!r}",
            op_index=index,
            value=operation,
        )
    members = ["path", "from"] if name in ("move", "copy") else ["path"]
    for member in members:
        pointer = operation.get(member)
        if not isinstance(pointer, str):
            raise PatchError(
                f"invalid patch operation {index} ({name}): {member!r} must be a "
                f"JSON Pointer string, got {pointer!r}",
                op_index=index,
                value=operation,
            )
        try:
            parse_pointer(pointer)
        except ValueError as exc:
            raise PatchError(
                f"invalid patch operation {index} ({name}): {exc}",
                op_index=index,
                path=pointer,
                value=operation,
            ) from None
    if name in ("add", "replace", "test") and "value" not in operation:
        raise PatchError(
            f"invalid patch operation {index} ({name}): the 'value' member is missing",
            op_index=index,
            path=operation["path"],
            value=operation,
        )
    return dict(operation)


# -- application --------------------------------------------------------------


def apply_patch(document: Any, patch: Sequence[Mapping[str, Any]]) -> Any:
    """Apply an RFC 6902 patch and return the new document.

    The input document is not changed. The patch is atomic: when one
    operation fails, PatchError is raised and no result is produced. Pass
    ``ABSENT`` as the document for a state key that does not exist yet;
    only ``add`` with path ``""`` can create it.
    """
    operations = validate_patch(patch)
    result = copy_value(document)
    for index, operation in enumerate(operations):
        try:
            result = _apply_operation(result, operation)
        except _OperationError as exc:
            raise PatchError(
                f"patch operation {index} ({operation['op']} "
                f"{operation['path']!r}) failed: {exc}",
                op_index=index,
                path=operation["path"],
                value=dict(operation),
            ) from None
    return result


class _OperationError(Exception):
    pass


def _apply_operation(doc: Any, operation: dict[str, Any]) -> Any:
    name = operation["op"]
    path = parse_pointer(operation["path"])
    if name == "add":
        return _add(doc, path, copy_value(operation["value"]))
    if name == "remove":
        return _remove(doc, path)
    if name == "replace":
        return _replace(doc, path, copy_value(operation["value"]))
    if name == "test":
        if not json_equal(_get(doc, path), operation["value"]):
            raise _OperationError("the value at the path is not equal to 'value'")
        return doc
    source = parse_pointer(operation["from"])
    if name == "copy":
        return _add(doc, path, copy_value(_get(doc, source)))
    # move: RFC 6902 section 4.4 forbids moving a location into its own child.
    if len(source) < len(path) and path[: len(source)] == source:
        raise _OperationError("'from' is a proper prefix of 'path'")
    if source == path:
        _get(doc, source)
        return doc
    value = _get(doc, source)
    return _add(_remove(doc, source), path, value)


def _array_index(token: str, array: list[Any], *, for_add: bool) -> int:
    if token == "-" and for_add:
        return len(array)
    if not _INDEX_RE.fullmatch(token):
        raise _OperationError(f"invalid array index {token!r}")
    index = int(token)
    limit = len(array) if for_add else len(array) - 1
    if index > limit:
        raise _OperationError(f"array index {index} is out of range")
    return index


def _child(container: Any, token: str) -> Any:
    if isinstance(container, dict):
        if token not in container:
            raise _OperationError(f"member {token!r} not found")
        return container[token]
    if isinstance(container, list):
        return container[_array_index(token, container, for_add=False)]
    raise _OperationError(f"cannot look up {token!r} in a non-container value")


def _get(doc: Any, path: list[str]) -> Any:
    if doc is ABSENT:
        raise _OperationError("the document does not exist")
    for token in path:
        doc = _child(doc, token)
    return doc


def _add(doc: Any, path: list[str], value: Any) -> Any:
    if not path:
        return value
    parent = _get(doc, path[:-1])
    token = path[-1]
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list):
        parent.insert(_array_index(token, parent, for_add=True), value)
    else:
        raise _OperationError("the parent of the path is not a container")
    return doc


def _replace(doc: Any, path: list[str], value: Any) -> Any:
    # Replace in place so that an object member keeps its position.
    if not path:
        _get(doc, path)
        return value
    parent = _get(doc, path[:-1])
    token = path[-1]
    _child(parent, token)
    if isinstance(parent, dict):
        parent[token] = value
    else:
        parent[_array_index(token, parent, for_add=False)] = value
    return doc


def _remove(doc: Any, path: list[str]) -> Any:
    if not path:
        raise _OperationError("cannot remove the whole document")
    parent = _get(doc, path[:-1])
    token = path[-1]
    if isinstance(parent, dict):
        if token not in parent:
            raise _OperationError(f"member {token!r} not found")
        del parent[token]
    elif isinstance(parent, list):
        del parent[_array_index(token, parent, for_add=False)]
    else:
        raise _OperationError("the parent of the path is not a container")
    return doc


# -- diff ---------------------------------------------------------------------


def make_patch(source: Any, target: Any) -> list[dict[str, Any]]:
    """Return a patch that turns ``source`` into ``target``.

    ``apply_patch(source, make_patch(source, target))`` equals ``target``
    with the same Python types (an int never becomes a float). Pass
    ``ABSENT`` as ``source`` to create a value from nothing.
    """
    operations: list[dict[str, Any]] = []
    if source is ABSENT:
        operations.append({"op": "add", "path": "", "value": copy_value(target)})
    else:
        _diff(source, target, "", operations)
    return operations


def _diff(a: Any, b: Any, path: str, out: list[dict[str, Any]]) -> None:
    if same_value(a, b):
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in a:
            if key not in b:
                out.append({"op": "remove", "path": f"{path}/{escape_token(key)}"})
        for key, value in b.items():
            child = f"{path}/{escape_token(key)}"
            if key in a:
                _diff(a[key], value, child, out)
            else:
                out.append({"op": "add", "path": child, "value": copy_value(value)})
        return
    if isinstance(a, list) and isinstance(b, list):
        _diff_list(a, b, path, out)
        return
    out.append({"op": "replace", "path": path, "value": copy_value(b)})


def _diff_list(
    a: list[Any], b: list[Any], path: str, out: list[dict[str, Any]]
) -> None:
    # Skip the common prefix and suffix, diff the overlapping middle element
    # by element, then remove or append what is left over.
    start = 0
    while start < len(a) and start < len(b) and same_value(a[start], b[start]):
        start += 1
    end_a, end_b = len(a), len(b)
    while end_a > start and end_b > start and same_value(a[end_a - 1], b[end_b - 1]):
        end_a -= 1
        end_b -= 1
    common = min(end_a, end_b) - start
    for offset in range(common):
        index = start + offset
        _diff(a[index], b[index], f"{path}/{index}", out)
    for index in range(end_a - 1, start + common - 1, -1):
        out.append({"op": "remove", "path": f"{path}/{index}"})
    for index in range(start + common, end_b):
        value = copy_value(b[index])
        out.append({"op": "add", "path": f"{path}/{index}", "value": value})
