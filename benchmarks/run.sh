#!/usr/bin/env bash
# Speed benchmarks of the ARMIN layer and models (see benchmarks/run.py --help): bash benchmarks/run.sh [--quick] [--threads 1,2]
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m benchmarks.run "$@"
