"""The embedded default: a local Ray and a local Redis started on demand.

With no addresses given, ``EmbeddedRuntime`` starts a local Ray on
127.0.0.1 and a ``redis-server`` on a free loopback port with AOF on, in a
data directory under the user's data dir, and stops both on close. Without
the ``redis-server`` binary it falls back to an in-process Redis (fakeredis
over TCP on loopback) and warns that state is not durable. An explicit Redis
URL or Ray address replaces the embedded part it names.
"""

from __future__ import annotations

import fcntl
import shutil
import threading
import warnings
from pathlib import Path
from typing import IO, Any

from incontainer._util.paths import default_data_dir
from incontainer._util.ray_local import NAMESPACE, init_ray
from incontainer._util.redis_server import (
    INSTALL_HINT,
    RedisServer,
    find_redis_server,
    free_port,
)
from incontainer.errors import InvalidInputError, StoreUnavailableError

__all__ = ["EmbeddedRuntime", "NotDurableWarning"]


class NotDurableWarning(RuntimeWarning):
    """State is kept in process memory only and is lost when the process exits."""


class EmbeddedRuntime:
    """Owns whatever Ray and Redis this process had to start itself."""

    def __init__(
        self,
        *,
        address: str | None = None,
        redis_url: str | None = None,
        data_dir: str | Path | None = None,
        namespace: str = NAMESPACE,
        num_cpus: int | None = None,
        with_ray: bool = True,
    ):
        if redis_url is not None and not redis_url.startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise InvalidInputError(
                f"invalid Redis URL {redis_url!r}: expected redis://HOST:PORT/DB",
                field="redis_url",
                value=redis_url,
            )
        self.address = address
        self.namespace = namespace
        self.data_dir = Path(data_dir) if data_dir else default_data_dir()
        self.redis_url = redis_url or ""
        self.durable = True
        self._num_cpus = num_cpus
        self._with_ray = with_ray
        self._started_ray = False
        self._redis: RedisServer | None = None
        self._fake: Any = None
        self._lock_file: IO[str] | None = None
        self._closed = False

    def __repr__(self) -> str:
        ray_part = "local" if self._started_ray else (self.address or "existing")
        return f"<EmbeddedRuntime ray={ray_part} redis={self.redis_url or 'none'}>"

    def open(self) -> EmbeddedRuntime:
        """Start or join Ray, then start or use Redis; undo both on failure."""
        try:
            if self._with_ray:
                self._open_ray()
            if not self.redis_url:
                self._open_redis()
        except BaseException:
            self.close()
            raise
        return self

    def _open_ray(self) -> None:
        import ray

        if ray.is_initialized():
            return
        resources = {"gvisor": 1000.0} if shutil.which("runsc") else {}
        if self.address is None:
            init_ray(
                None,
                namespace=self.namespace,
                num_cpus=self._num_cpus,
                resources=resources,
            )
            self._started_ray = True
        else:
            init_ray(self.address, namespace=self.namespace)

    def _open_redis(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if find_redis_server() is None:
            self._open_fake_redis()
            return
        redis_dir = self.data_dir / "redis"
        redis_dir.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(redis_dir / "lock", "w")  # noqa: SIM115 - held open
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreUnavailableError(
                f"another incontainer process is using the embedded store in "
                f"{redis_dir}; pass a Redis URL (--redis-url) to share one store, "
                "or a different --data-dir"
            ) from None
        self._redis = RedisServer(redis_dir).start()
        self.redis_url = self._redis.url

    def _open_fake_redis(self) -> None:
        from fakeredis import TcpFakeServer

        port = free_port()
        server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
        server.daemon_threads = True
        threading.Thread(
            target=server.serve_forever, name="incontainer-fakeredis", daemon=True
        ).start()
        self._fake = server
        self.redis_url = f"redis://127.0.0.1:{port}/0"
        self.durable = False
        warnings.warn(
            "redis-server not found, so container state is kept in this process "
            f"only and is lost when it exits; {INSTALL_HINT} for a durable store",
            NotDurableWarning,
            stacklevel=3,
        )

    def __enter__(self) -> EmbeddedRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def started_ray(self) -> bool:
        """Whether this runtime started the local Ray it stops on close."""
        return self._started_ray

    def close(self) -> None:
        """Stop what this runtime started; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._redis is not None:
            self._redis.stop()
            self._redis = None
        if self._fake is not None:
            self._fake.shutdown()
            self._fake.server_close()
            self._fake = None
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None
        if self._started_ray:
            import ray

            ray.shutdown()
            self._started_ray = False
