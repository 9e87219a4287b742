#!/usr/bin/env bash
# armin-study: train a grid of variants x seeds (recipes/studies/) at an equal update budget
# and write the table, curves and results.json under runs/study/GRID (docs/study.md).
#
#   bash recipes/study.sh lr_sweep                    # the learning-rate sweep on PTB-char
#   bash recipes/study.sh lr_sweep --jobs 2 --variants lstm-lr8e-3,armin16-lr8e-3
#   bash recipes/study.sh my_grid.yaml --data data-bin/other --out runs/study/other
#
# Builds data-bin/ptb_char (the default data) if missing; arguments go to armin-study
# (see its --help). The same command resumes an interrupted grid.
set -euo pipefail
cd "$(dirname "$0")/.."
bash recipes/install.sh
.venv/bin/python -m armin_plugin.data.ptb --level char --dest data-bin/ptb_char
exec .venv/bin/armin-study "$@"
