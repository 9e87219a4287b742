#!/usr/bin/env bash
# The NTM memory tasks (copy, repeat copy, associative recall): train armin_algorithmic and
# an LSTM with the same parameter count on each for a CPU budget, evaluate both at the
# training lengths and at longer lengths, and write runs/algorithmic/results.md (table),
# results.json and curves.png (bit errors per sequence against updates and wall-clock time).
#
#   bash recipes/algorithmic.sh                      # about 10 minutes per model, 6 models
#   TRAIN_MINUTES=4 bash recipes/algorithmic.sh      # a shorter budget per model
#   bash recipes/algorithmic.sh --tasks copy --models armin   # a subset
#
# Extra arguments go to `python -m armin_plugin.jobs.compare_algorithmic` (see its --help). A
# finished run is not trained again; delete runs/algorithmic (or pass --out) to start over.
set -euo pipefail
cd "$(dirname "$0")/.."

bash recipes/install.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
exec .venv/bin/python -m armin_plugin.jobs.compare_algorithmic --out runs/algorithmic \
    --minutes "${TRAIN_MINUTES:-10}" "$@"
