"""The generated protobuf module must match the .proto schema."""

from __future__ import annotations

from pathlib import Path

from incontainer.wire import generate


def test_generated_module_is_current(tmp_path: Path) -> None:
    fresh = generate.generate(tmp_path).read_text()
    committed = (Path(generate.__file__).parent / generate.OUT_NAME).read_text()
    assert fresh == committed, (
        "incontainer/wire/incontainer_pb2.py is stale: run "
        "`python -m incontainer.wire.generate` and commit the result"
    )


def test_schema_package_is_versioned() -> None:
    text = generate.PROTO_FILE.read_text()
    assert "package incontainer.v1;" in text
