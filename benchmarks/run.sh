#!/usr/bin/env bash
# Speed benchmarks of the ARMIN layer and models (see benchmarks/run.py --help): bash benchmarks/run.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec .venv/bin/python -m benchmarks.run "$@"
