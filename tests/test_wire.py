"""The generated protobuf module must match the .proto schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from incontainer.wire import generate


@pytest.mark.parametrize("name", [generate.OUT_NAME, generate.STUB_NAME])
def test_generated_module_is_current(tmp_path: Path, name: str) -> None:
    generate.generate(tmp_path)
    fresh = (tmp_path / name).read_text()
    committed = (Path(generate.__file__).parent / name).read_text()
    assert fresh == committed, (
        f"incontainer/wire/{name} is stale: run "
        "`python -m incontainer.wire.generate` and commit the result"
    )


def test_schema_package_is_versioned() -> None:
    text = generate.PROTO_FILE.read_text()
    assert "package incontainer.v1;" in text
