"""Build the builtin WASI tools from the C sources beside this file.

Run ``python -m incontainer.actors.wasm.tools.build`` to rebuild every
``<tool>.wasm`` in place, or pass ``--out DIR`` to build elsewhere. Each tool
is one C file that includes ``_common.c``. The compiler is Debian's clang 14
with the wasi-libc sysroot under /usr (packages clang, lld, wasi-libc and
libclang-rt-dev-wasm32). The output is reproducible: the flags strip every
custom section, so the same sources and compiler give the same bytes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["TOOLS_DIR", "build_all", "find_clang", "tool_sources"]

TOOLS_DIR = Path(__file__).resolve().parent

CFLAGS = (
    "--target=wasm32-wasi",
    "--sysroot=/usr",
    "-O2",
    "-Wall",
    "-Werror",
    "-D_GNU_SOURCE",
    # Drops the name and producers sections, which hold the compiler version
    # and would otherwise be the only varying bytes.
    "-Wl,--strip-all",
)


def find_clang() -> str | None:
    """Return the path of a clang that can target wasm32-wasi, or None."""
    for name in ("clang-14", "clang"):
        path = shutil.which(name)
        if path is not None:
            return path
    return None


def tool_sources(source_dir: Path = TOOLS_DIR) -> list[Path]:
    """Return the tool sources: every ``*.c`` except helpers named ``_*.c``."""
    return sorted(p for p in source_dir.glob("*.c") if not p.name.startswith("_"))


def build_all(out_dir: Path, source_dir: Path = TOOLS_DIR) -> list[Path]:
    """Compile every tool into ``out_dir`` and return the written paths.

    Each output is written to a temporary name and renamed, so a reader never
    sees a partial module. Raises RuntimeError naming the tool and the
    compiler output when clang is missing or fails.
    """
    clang = find_clang()
    if clang is None:
        raise RuntimeError(
            "clang not found: install the Debian packages clang, lld, "
            "wasi-libc and libclang-rt-dev-wasm32"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    return [_build_one(clang, source, out_dir) for source in tool_sources(source_dir)]


def _build_one(clang: str, source: Path, out_dir: Path) -> Path:
    target = out_dir / f"{source.stem}.wasm"
    fd, tmp_name = tempfile.mkstemp(prefix=f".{source.stem}.", dir=out_dir)
    os.close(fd)
    try:
        # Compiling from the source directory keeps absolute paths out of
        # the compiler's view.
        proc = subprocess.run(
            [clang, *CFLAGS, "-o", tmp_name, source.name],
            cwd=source.parent,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"building {source.name} failed:\n{proc.stderr}")
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=TOOLS_DIR,
        help="directory for the .wasm files (default: beside the sources)",
    )
    args = parser.parse_args(argv)
    try:
        built = build_all(args.out)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    for path in built:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
