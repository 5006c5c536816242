"""Start or join Ray without contacting anything beyond loopback."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

__all__ = ["NAMESPACE", "actor_gone_errors", "configure_loopback_env", "init_ray"]

NAMESPACE = "incontainer"


def configure_loopback_env() -> None:
    """Make Ray started from this process use 127.0.0.1 and send no usage data.

    Ray resolves "127.0.0.1" to the host's routable address unless
    ``ENABLE_RAY_CLUSTER`` is off, which Ray reads from
    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` when ``ray_constants`` is imported
    (Ray 2.60, ``ray._private.services.get_node_ip_address``). The constant
    is also set directly in case Ray was imported before this call.
    """
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False


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
    configure_loopback_env()
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
        kwargs["runtime_env"] = {
            "env_vars": {
                "RAY_USAGE_STATS_ENABLED": "0",
                "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
            }
        }
    else:
        kwargs["address"] = address
    info: Any = ray.init(**kwargs)
    return dict(info.address_info)


def actor_gone_errors() -> tuple[type[BaseException], ...]:
    """Return the Ray errors that mean an actor or its node is gone.

    An actor pinned to a node that has left the cluster fails with
    ActorUnschedulableError, which is not a RayActorError.
    """
    from ray import exceptions

    return (
        exceptions.RayActorError,
        exceptions.ActorUnschedulableError,
        exceptions.NodeDiedError,
        exceptions.WorkerCrashedError,
        exceptions.ObjectLostError,
    )
