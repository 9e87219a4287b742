#!/usr/bin/env bash
# Word-level Penn Treebank (10k words) with stream training: ARMIN over streams, ARMIN over
# independent blocks, an LSTM over streams, then test perplexity and a report
# (runs/ptb_word_stream/: results.md, results.json, curves.png).
#
#   bash recipes/ptb_word.sh               # CPU budget: 4 minutes per run, about 15 in all
#   bash recipes/ptb_word.sh --gpu-scale   # GPU: the ptb_word preset below, no time limit
#
# GPU-scale settings (preset "ptb_word"; after AWD-LSTM, Merity et al. 2018): segments of
# 70 words, 20 streams, Adam lr 0.001, clip 1.0, dropout 0.5, 40 epochs; ARMIN embed 400,
# d_h 1000, d_r 256, 16 slots.
set -euo pipefail
cd "$(dirname "$0")/.."
bash recipes/install.sh
.venv/bin/python -m armin_plugin.data.ptb --level word --dest data-bin/ptb_word
if [ "${1:-}" = "--gpu-scale" ]; then
  shift; set -- --preset ptb_word --minutes 0 --gpu "$@"
else
  set -- --preset quick_word --minutes "${TRAIN_MINUTES:-4}" "$@"
fi
exec .venv/bin/python -m armin_plugin.jobs.compare_lm --plan stream --data data-bin/ptb_word \
  --out runs/ptb_word_stream --metric ppl "$@"
