"""Start or join Ray without contacting anything beyond loopback."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

__all__ = ["NAMESPACE", "init_ray"]

NAMESPACE = "incontainer"


def init_ray(
    address: str | None = None,
    *,
    namespace: str = NAMESPACE,
    num_cpus: int | None = None,
    resources: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Connect to the Ray cluster at ``address`` or start a local one.

    A local cluster binds to 127.0.0.1 with usage statistics and the
    dashboard off. Returns the address information from ``ray.init``; when
    Ray is already initialised in this process it is reused as it is.
    """
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray

    if ray.is_initialized():
        return {"address": ray.get_runtime_context().gcs_address}
    kwargs: dict[str, Any] = {
        "namespace": namespace,
        "include_dashboard": False,
        "log_to_driver": False,
        "configure_logging": False,
    }
    if address is None or address == "local":
        kwargs.update(
            address="local",
            _node_ip_address="127.0.0.1",
            num_cpus=num_cpus,
            resources=dict(resources or {}),
        )
        # Ray workers inherit the driver's environment; this keeps them quiet
        # about usage statistics too.
        kwargs["runtime_env"] = {"env_vars": {"RAY_USAGE_STATS_ENABLED": "0"}}
    else:
        kwargs["address"] = address
    info = ray.init(**kwargs)
    return dict(info.address_info)
