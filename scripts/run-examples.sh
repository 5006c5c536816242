#!/usr/bin/env bash
# Set up, then run the bundled real workloads with the embedded default
# (a local Ray on 127.0.0.1 and a private redis-server).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export RAY_USAGE_STATS_ENABLED=0
exec .venv/bin/python -m incontainer run examples/jobs.yaml "$@"
