"""Regenerate ``incontainer_pb2.py`` and its stub from ``proto/incontainer/v1``.

Run ``python -m incontainer.wire.generate`` after editing the schema. The
output goes next to this file; ``--out DIR`` writes elsewhere (the staleness
test uses that to compare).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = ROOT / "proto"
PROTO_FILE = PROTO_DIR / "incontainer" / "v1" / "incontainer.proto"
OUT_NAME = "incontainer_pb2.py"
STUB_NAME = "incontainer_pb2.pyi"


def generate(out_dir: Path) -> Path:
    """Compile the schema and write the Python module into ``out_dir``."""
    with tempfile.TemporaryDirectory() as tmp:
        code = protoc.main(
            [
                "protoc",
                f"-I{PROTO_DIR}",
                f"--python_out={tmp}",
                f"--pyi_out={tmp}",
                str(PROTO_FILE),
            ]
        )
        if code != 0:
            raise SystemExit(f"protoc failed with exit code {code} on {PROTO_FILE}")
        produced = Path(tmp) / "incontainer" / "v1"
        for name in (OUT_NAME, STUB_NAME):
            shutil.copyfile(produced / name, out_dir / name)
    return out_dir / OUT_NAME


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    args = parser.parse_args(argv)
    print(generate(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
