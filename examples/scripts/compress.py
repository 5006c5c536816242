"""Compress a file with LZMA and report sizes; the round trip must match.

The lzma module is missing from the WASM build of CPython, so the scheduler
routes this job to gVisor, where Debian's native python3 runs it.
"""

import lzma
import sys


def main(path: str) -> None:
    with open(path, "rb") as handle:
        data = handle.read()
    packed = lzma.compress(data, preset=6)
    assert lzma.decompress(packed) == data
    print(f"original {len(data)}")
    print(f"ratio {len(packed) / len(data):.2f}")
    print("round trip ok")


if __name__ == "__main__":
    main(sys.argv[1])
