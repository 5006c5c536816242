"""RFC 6902 patches: the Python reference and the Lua engine inside Redis."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incontainer.errors import PatchError
from incontainer.statestore import (
    StateSynchronizer,
    apply_patch,
    json_equal,
    make_patch,
)
from incontainer.statestore.jsonpatch import ABSENT, parse_pointer, same_value

ERROR = "error"

# RFC 6902 appendix A, A.1 to A.16: (name, document, patch, expected result).
APPENDIX_A: list[tuple[str, Any, list[dict[str, Any]], Any]] = [
    ("A.1 add object member", {"foo": "bar"},
     [{"op": "add", "path": "/baz", "value": "qux"}],
     {"baz": "qux", "foo": "bar"}),
    ("A.2 add array element", {"foo": ["bar", "baz"]},
     [{"op": "add", "path": "/foo/1", "value": "qux"}],
     {"foo": ["bar", "qux", "baz"]}),
    ("A.3 remove object member", {"baz": "qux", "foo": "bar"},
     [{"op": "remove", "path": "/baz"}],
     {"foo": "bar"}),
    ("A.4 remove array element", {"foo": ["bar", "qux", "baz"]},
     [{"op": "remove", "path": "/foo/1"}],
     {"foo": ["bar", "baz"]}),
    ("A.5 replace value", {"baz": "qux", "foo": "bar"},
     [{"op": "replace", "path": "/baz", "value": "boo"}],
     {"baz": "boo", "foo": "bar"}),
    ("A.6 move value",
     {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
     [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
     {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}),
    ("A.7 move array element", {"foo": ["all", "grass", "cows", "eat"]},
     [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
     {"foo": ["all", "cows", "eat", "grass"]}),
    ("A.8 test success", {"baz": "qux", "foo": ["a", 2, "c"]},
     [{"op": "test", "path": "/baz", "value": "qux"},
      {"op": "test", "path": "/foo/1", "value": 2}],
     {"baz": "qux", "foo": ["a", 2, "c"]}),
    ("A.9 test error", {"baz": "qux"},
     [{"op": "test", "path": "/baz", "value": "bar"}],
     ERROR),
    ("A.10 add nested member object", {"foo": "bar"},
     [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
     {"foo": "bar", "child": {"grandchild": {}}}),
    ("A.11 ignore unrecognized members", {"foo": "bar"},
     [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
     {"foo": "bar", "baz": "qux"}),
    ("A.12 add to nonexistent target", {"foo": "bar"},
     [{"op": "add", "path": "/baz/bat", "value": "qux"}],
     ERROR),
    # A.13 is JSON text with two "op" members. A Python dict cannot hold
    # both: json.loads keeps the last one, a remove of a missing member,
    # which fails as the RFC requires.
    ("A.13 invalid patch document", {"foo": "bar"},
     json.loads('[{"op": "add", "path": "/baz", "value": "qux", "op": "remove"}]'),
     ERROR),
    ("A.14 escape ordering", {"/": 9, "~1": 10},
     [{"op": "test", "path": "/~01", "value": 10}],
     {"/": 9, "~1": 10}),
    ("A.15 strings and numbers differ", {"/": 9, "~1": 10},
     [{"op": "test", "path": "/~01", "value": "10"}],
     ERROR),
    ("A.16 add array value", {"foo": ["bar"]},
     [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
     {"foo": ["bar", ["abc", "def"]]}),
]  # fmt: skip

# Further cases derived from RFC 6901 and RFC 6902 sections 4 and 5.
EDGE_CASES: list[tuple[str, Any, list[dict[str, Any]], Any]] = [
    ("add whole document", {"a": 1}, [{"op": "add", "path": "", "value": [1]}], [1]),
    ("replace whole document", {"a": 1},
     [{"op": "replace", "path": "", "value": 2}], 2),
    ("remove whole document", {"a": 1}, [{"op": "remove", "path": ""}], ERROR),
    ("add replaces member in place", {"a": 1, "b": 2},
     [{"op": "add", "path": "/a", "value": 3}], {"a": 3, "b": 2}),
    ("add at array end index", [1, 2],
     [{"op": "add", "path": "/2", "value": 3}], [1, 2, 3]),
    ("add past array end", [1, 2], [{"op": "add", "path": "/3", "value": 3}], ERROR),
    ("leading zero index", [1, 2], [{"op": "add", "path": "/01", "value": 3}], ERROR),
    ("leading zero on remove", [1, 2], [{"op": "remove", "path": "/00"}], ERROR),
    ("dash on remove", [1, 2], [{"op": "remove", "path": "/-"}], ERROR),
    ("dash on replace", [1, 2], [{"op": "replace", "path": "/-", "value": 0}], ERROR),
    ("negative index", [1, 2], [{"op": "remove", "path": "/-1"}], ERROR),
    ("index into object is a name", {"0": "x"}, [{"op": "remove", "path": "/0"}], {}),
    ("remove missing member", {"a": 1}, [{"op": "remove", "path": "/b"}], ERROR),
    ("replace missing member", {"a": 1},
     [{"op": "replace", "path": "/b", "value": 1}], ERROR),
    ("escaped slash", {"a/b": 1}, [{"op": "replace", "path": "/a~1b", "value": 2}],
     {"a/b": 2}),
    ("escaped tilde", {"m~n": 1}, [{"op": "remove", "path": "/m~0n"}], {}),
    ("empty member name", {"": 1},
     [{"op": "replace", "path": "/", "value": 2}], {"": 2}),
    ("member of a scalar", {"a": 1},
     [{"op": "add", "path": "/a/b", "value": 2}], ERROR),
    ("move into own child", {"a": {"b": 1}},
     [{"op": "move", "from": "/a", "path": "/a/b/c"}], ERROR),
    ("move to itself", {"a": 1},
     [{"op": "move", "from": "/a", "path": "/a"}], {"a": 1}),
    ("move missing source", {"a": 1},
     [{"op": "move", "from": "/x", "path": "/y"}], ERROR),
    ("copy whole document", {"a": 1}, [{"op": "copy", "from": "", "path": "/b"}],
     {"a": 1, "b": {"a": 1}}),
    ("copy array element", {"a": [1, {"x": 2}]},
     [{"op": "copy", "from": "/a/1", "path": "/a/0"}], {"a": [{"x": 2}, 1, {"x": 2}]}),
    ("test int equals float", {"a": 1}, [{"op": "test", "path": "/a", "value": 1.0}],
     {"a": 1}),
    ("test true is not 1", {"a": True},
     [{"op": "test", "path": "/a", "value": 1}], ERROR),
    ("test 0 is not false", {"a": 0}, [{"op": "test", "path": "/a", "value": False}],
     ERROR),
    ("test null", {"a": None}, [{"op": "test", "path": "/a", "value": None}],
     {"a": None}),
    ("test object ignores order", {"a": {"x": 1, "y": [1, 2]}},
     [{"op": "test", "path": "/a", "value": {"y": [1, 2.0], "x": 1}}],
     {"a": {"x": 1, "y": [1, 2]}}),
    ("test array order matters", {"a": [1, 2]},
     [{"op": "test", "path": "/a", "value": [2, 1]}], ERROR),
    ("test empty object is not array", {"a": {}},
     [{"op": "test", "path": "/a", "value": []}], ERROR),
    ("test large integers", {"a": 2**64 - 1},
     [{"op": "test", "path": "/a", "value": 2**64 - 2}], ERROR),
    ("test negative integers", {"a": -(2**63)},
     [{"op": "test", "path": "/a", "value": -(2**63)}], {"a": -(2**63)}),
    ("test whole document", {"a": 1}, [{"op": "test", "path": "", "value": {"a": 1}}],
     {"a": 1}),
    ("test bytes", {"a": b"\x00\x01"},
     [{"op": "test", "path": "/a", "value": b"\x00\x01"}], {"a": b"\x00\x01"}),
    ("test bytes is not str", {"a": b"x"}, [{"op": "test", "path": "/a", "value": "x"}],
     ERROR),
    ("failure undoes earlier ops", {"a": 1},
     [{"op": "add", "path": "/b", "value": 2}, {"op": "remove", "path": "/zz"}], ERROR),
    ("empty patch", {"a": 1}, [], {"a": 1}),
    ("long member names", {"k" * 40: 1, "m" * 300: 2},
     [{"op": "add", "path": "/" + "n" * 70000, "value": 3}],
     {"k" * 40: 1, "m" * 300: 2, "n" * 70000: 3}),
    ("grow small map past 15 members", {str(i): i for i in range(15)},
     [{"op": "add", "path": "/x", "value": 1}],
     {**{str(i): i for i in range(15)}, "x": 1}),
    ("shrink map16 to fixmap", {str(i): i for i in range(16)},
     [{"op": "remove", "path": "/3"}],
     {str(i): i for i in range(16) if i != 3}),
    ("grow array past 15 items", list(range(15)),
     [{"op": "add", "path": "/0", "value": -1}], [-1, *range(15)]),
]  # fmt: skip

CASES = APPENDIX_A + EDGE_CASES
CASE_IDS = [case[0] for case in CASES]


@pytest.mark.parametrize(("name", "document", "patch", "expected"), CASES, ids=CASE_IDS)
def test_python_apply_matches_rfc(
    name: str, document: Any, patch: list[dict[str, Any]], expected: Any
) -> None:
    before = copy.deepcopy(document)
    if expected == ERROR:
        with pytest.raises(PatchError):
            apply_patch(document, patch)
    else:
        assert same_value(apply_patch(document, patch), expected)
    assert same_value(document, before), "apply_patch mutated its input"


@pytest.mark.parametrize(("name", "document", "patch", "expected"), CASES, ids=CASE_IDS)
def test_redis_apply_matches_rfc(
    sync: StateSynchronizer,
    name: str,
    document: Any,
    patch: list[dict[str, Any]],
    expected: Any,
) -> None:
    version = sync.update_state("c1", "doc", document).version
    if expected == ERROR:
        with pytest.raises(PatchError) as caught:
            sync.patch_state("c1", "doc", patch, base_version=version)
        assert caught.value.key == "doc"
        assert sync.get_entry("c1", "doc").version == version
        assert same_value(sync.get_state("c1", "doc"), document)
    else:
        new_version = sync.patch_state("c1", "doc", patch, base_version=version)
        assert new_version == version + 1
        assert same_value(sync.get_state("c1", "doc"), expected)


def test_patch_error_names_operation() -> None:
    patch = [{"op": "add", "path": "/a", "value": 1}, {"op": "remove", "path": "/x/y"}]
    with pytest.raises(PatchError) as caught:
        apply_patch({}, patch)
    assert caught.value.op_index == 1
    assert caught.value.path == "/x/y"


@pytest.mark.parametrize(
    "patch",
    [
        {"op": "add", "path": "/a", "value": 1},
        "[]",
        [1],
        [{"path": "/a", "value": 1}],
        [{"op": "merge", "path": "/a"}],
        [{"op": "add", "path": "a", "value": 1}],
        [{"op": "add", "path": "/a~2", "value": 1}],
        [{"op": "add", "path": "/a~", "value": 1}],
        [{"op": "add", "path": 5, "value": 1}],
        [{"op": "add", "path": "/a"}],
        [{"op": "replace", "path": "/a"}],
        [{"op": "test", "path": "/a"}],
        [{"op": "move", "path": "/a"}],
        [{"op": "copy", "from": 1, "path": "/a"}],
    ],
)
def test_malformed_patch_rejected(patch: Any) -> None:
    with pytest.raises(PatchError):
        apply_patch({"a": 1}, patch)


def test_pointer_escapes() -> None:
    assert parse_pointer("") == []
    assert parse_pointer("/") == [""]
    assert parse_pointer("/a~1b/~0/~01") == ["a/b", "~", "~1"]


def test_json_equal_semantics() -> None:
    assert json_equal(1, 1.0)
    assert json_equal({"a": [1, {"b": None}]}, {"a": [1.0, {"b": None}]})
    assert not json_equal(True, 1)
    assert not json_equal(False, 0)
    assert not json_equal("1", 1)
    assert not json_equal([1, 2], [2, 1])
    assert not json_equal({}, [])
    assert not json_equal(None, False)
    assert json_equal({"x": 1, "y": 2}, {"y": 2, "x": 1})


def test_make_patch_creates_from_absent() -> None:
    patch = make_patch(ABSENT, {"a": 1})
    assert patch == [{"op": "add", "path": "", "value": {"a": 1}}]
    assert apply_patch(ABSENT, patch) == {"a": 1}


def test_make_patch_keeps_int_float_types() -> None:
    patch = make_patch({"a": 1, "b": [True]}, {"a": 1.0, "b": [1]})
    result = apply_patch({"a": 1, "b": [True]}, patch)
    assert type(result["a"]) is float
    assert type(result["b"][0]) is int


def test_make_patch_one_field_is_small() -> None:
    source = {"items": {f"k{i}": "x" * 50 for i in range(1000)}, "n": 1}
    target = copy.deepcopy(source)
    target["n"] = 2
    assert make_patch(source, target) == [{"op": "replace", "path": "/n", "value": 2}]


# -- property tests ---------------------------------------------------------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.binary(max_size=4)
)
_keys = st.sampled_from(["a", "b", "c", "", "~", "/", "a/b", "~1", "0", "-"])
json_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(_keys, children, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(json_values, json_values)
def test_make_patch_round_trip(source: Any, target: Any) -> None:
    assert same_value(apply_patch(source, make_patch(source, target)), target)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(json_values, json_values)
def test_redis_round_trip(sync: StateSynchronizer, source: Any, target: Any) -> None:
    version = sync.update_state("c1", "prop", source, base_version=None).version
    assert version is not None
    sync.patch_state("c1", "prop", make_patch(source, target), base_version=version)
    assert same_value(sync.get_state("c1", "prop"), target)


_pointers = st.lists(
    st.sampled_from(["a", "b", "0", "1", "2", "-", "01", "", "~1"]), max_size=3
).map(
    lambda tokens: "".join(
        "/" + t.replace("~", "~0").replace("/", "~1") for t in tokens
    )
)
_operations = st.one_of(
    st.builds(
        lambda p, v: {"op": "add", "path": p, "value": v}, _pointers, json_values
    ),
    st.builds(lambda p: {"op": "remove", "path": p}, _pointers),
    st.builds(
        lambda p, v: {"op": "replace", "path": p, "value": v}, _pointers, json_values
    ),
    st.builds(
        lambda p, v: {"op": "test", "path": p, "value": v}, _pointers, json_values
    ),
    st.builds(lambda f, p: {"op": "move", "from": f, "path": p}, _pointers, _pointers),
    st.builds(lambda f, p: {"op": "copy", "from": f, "path": p}, _pointers, _pointers),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(json_values, st.lists(_operations, min_size=1, max_size=3))
def test_redis_and_python_agree(
    sync: StateSynchronizer, document: Any, patch: list[dict[str, Any]]
) -> None:
    try:
        expected: Any = apply_patch(document, patch)
    except PatchError:
        expected = ERROR
    version = sync.update_state("c1", "agree", document).version
    try:
        sync.patch_state("c1", "agree", patch, base_version=version)
        actual: Any = sync.get_state("c1", "agree")
    except PatchError:
        actual = ERROR
        assert same_value(sync.get_state("c1", "agree"), document)
    assert actual == ERROR if expected == ERROR else same_value(actual, expected)
