"""The embedded default's fallback when redis-server is missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from incontainer import ContainerConfig, create_container_manager
from incontainer.runtime import EmbeddedRuntime, NotDurableWarning


def test_falls_back_to_in_process_redis(
    ray_cluster: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python_dir = str(Path(shutil.which("python3") or "/usr/bin/python3").parent)
    monkeypatch.setenv("PATH", python_dir)
    assert shutil.which("redis-server") is None
    with pytest.warns(NotDurableWarning, match="not durable|lost when it exits"):
        manager = create_container_manager(
            data_dir=tmp_path, namespace="incontainer-test"
        )
    try:
        assert manager.runtime.durable is False
        assert manager.runtime.redis_url.startswith("redis://127.0.0.1:")
        container_id = manager.create_container(ContainerConfig(name="fallback"))
        manager.start_container(container_id)
        result = manager.execute_command(container_id, "echo", ["in", "memory"])
        assert result.stdout == b"in memory\n"
        manager.terminate_container(container_id)
    finally:
        manager.close()


def test_invalid_redis_url_rejected() -> None:
    with pytest.raises(ValueError, match="invalid Redis URL"):
        EmbeddedRuntime(redis_url="http://example.invalid")


def test_second_embedded_store_is_refused(ray_cluster: None, tmp_path: Path) -> None:
    first = EmbeddedRuntime(data_dir=tmp_path).open()
    try:
        second = EmbeddedRuntime(data_dir=tmp_path)
        with pytest.raises(Exception, match="another incontainer process"):
            second.open()
    finally:
        first.close()
    assert first.redis_url
