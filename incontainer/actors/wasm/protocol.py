"""Length-prefixed msgpack frames between the sandbox and its worker.

Each frame is a 4-byte big-endian length followed by one msgpack map. The
sandbox sends ``run`` requests. The worker replies to each with a ``done``
or ``error`` frame, preceded by ``loading`` and ``started`` frames when it
has to load the module first.
"""

from __future__ import annotations

import os
import select
import struct
import time
from typing import Any

import msgpack

__all__ = ["FrameTimeout", "read_frame", "write_frame"]

_HEADER = struct.Struct(">I")
# A request carries the guest's stdin, so frames can be large; this bound
# only stops a corrupted length from allocating gigabytes.
MAX_FRAME_BYTES = 1 << 30


class FrameTimeout(Exception):
    """The deadline passed before a whole frame arrived."""


def write_frame(fd: int, message: dict[str, Any]) -> None:
    """Write one frame to ``fd``, blocking until all of it is written."""
    payload = msgpack.packb(message, use_bin_type=True)
    view = memoryview(_HEADER.pack(len(payload)) + payload)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def read_frame(fd: int, deadline: float | None = None) -> dict[str, Any]:
    """Read one frame from ``fd``.

    ``deadline`` is a ``time.monotonic()`` value; None waits forever.
    Raises EOFError when the other end closed the pipe, FrameTimeout when
    the deadline passed and ValueError when the frame is malformed.
    """
    (length,) = _HEADER.unpack(_read_exactly(fd, _HEADER.size, deadline))
    if length > MAX_FRAME_BYTES:
        raise ValueError(f"frame of {length} bytes exceeds {MAX_FRAME_BYTES}")
    message = msgpack.unpackb(_read_exactly(fd, length, deadline), raw=False)
    if not isinstance(message, dict):
        raise ValueError(f"invalid frame: expected a map, got {type(message).__name__}")
    return message


def _read_exactly(fd: int, size: int, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining > 0:
        if deadline is not None:
            _wait_readable(fd, deadline)
        chunk = os.read(fd, remaining)
        if not chunk:
            raise EOFError("pipe closed")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


_MAX_POLL_MS = 2**31 - 1


def _wait_readable(fd: int, deadline: float) -> None:
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    while True:
        timeout_ms = (deadline - time.monotonic()) * 1000.0
        if timeout_ms <= 0:
            raise FrameTimeout
        # poll() takes a C int of milliseconds; wait in slices below that.
        if poller.poll(max(1, min(int(timeout_ms + 0.999), _MAX_POLL_MS))):
            return
