#!/usr/bin/env bash
# Character-level Penn Treebank with stream training (truncated BPTT that carries ARMIN's
# hidden state and memory across segments): ARMIN over streams, ARMIN over independent
# blocks, and an LSTM over streams (similar parameter counts), then test BPC and a report
# (runs/ptb_char_stream/: results.md, results.json, curves.png; TensorBoard under tensorboard/).
#
#   bash recipes/ptb_char.sh               # CPU budget: 4 minutes per run, about 15 in all
#   TRAIN_MINUTES=10 bash recipes/ptb_char.sh
#   bash recipes/ptb_char.sh --gpu-scale   # GPU: the ptb_char preset below, no time limit
#
# GPU-scale settings (preset "ptb_char" in armin_plugin/jobs/compare_lm.py; after the char-PTB
# setup of Merity et al. 2018): segments of 150 characters, 128 streams, Adam lr 0.002,
# clip 1.0, dropout 0.25, 50 epochs; ARMIN embed 128, d_h 1000, d_r 256, 16 slots.
# Further arguments go to `python -m armin_plugin.jobs.compare_lm`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash recipes/install.sh
.venv/bin/python -m armin_plugin.data.ptb --level char --dest data-bin/ptb_char
if [ "${1:-}" = "--gpu-scale" ]; then
  shift; set -- --preset ptb_char --minutes 0 --gpu "$@"
else
  set -- --preset quick --minutes "${TRAIN_MINUTES:-4}" "$@"
fi
exec .venv/bin/python -m armin_plugin.jobs.compare_lm --plan stream --data data-bin/ptb_char \
  --out runs/ptb_char_stream --metric bpc "$@"
