#!/usr/bin/env bash
# Install everything incontainer needs on Debian 12 (run as root), then the
# package itself into .venv. Safe to run again: installed parts are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  redis-server        # the state store of record
  runsc               # gVisor, for containers of environment type "server"
  busybox-static      # shell tools inside gVisor sandboxes
  clang lld wasi-libc libclang-rt-dev-wasm32  # rebuild the WASI tools
  distro-info-data    # /usr/share/distro-info/debian.csv, example input
  python3-venv
)

missing=()
for package in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
    || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# redis-server from Debian starts a system service on port 6379; incontainer
# starts its own servers on free loopback ports and does not use that one.
if command -v systemctl >/dev/null && systemctl is-active -q redis-server 2>/dev/null; then
  systemctl stop redis-server || true
fi

if [ ! -x .venv/bin/python ]; then
  # System site packages are visible so that wheels already installed on the
  # machine (ray is large) are reused instead of downloaded again.
  python3 -m venv --system-site-packages .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
