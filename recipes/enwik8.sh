#!/usr/bin/env bash
# enwik8 (bytes of English Wikipedia XML; 90M/5M/5M split) with stream training: ARMIN over
# streams, ARMIN over independent blocks, an LSTM over streams, then test bits per byte and
# results (runs/<data>_stream/: results.md, results.json, curves.png).
#
#   bash recipes/enwik8.sh                          # downloads enwik8.zip (online)
#   bash recipes/enwik8.sh --source enwik8.zip      # a local copy (zip, raw or .bz2)
#   bash recipes/enwik8.sh --gensim-sample          # offline stand-in: the 6 MB Wikipedia XML
#                                                   # sample of the gensim wheel (split 90/5/5%)
#   bash recipes/enwik8.sh --source enwik8.zip --gpu-scale
#
# CPU budget: 4 minutes per run (TRAIN_MINUTES), about 15 in all. GPU-scale settings
# (preset "enwik8"; after Merity et al. 2018): segments of 200 bytes, 128 streams, Adam
# lr 0.001, clip 1.0, dropout 0.2, 12 epochs; ARMIN embed 400, d_h 1500, d_r 512, 32 slots.
set -euo pipefail
cd "$(dirname "$0")/.."
source_args=() name=enwik8 scale=(--preset quick --minutes "${TRAIN_MINUTES:-4}")
while [ $# -gt 0 ]; do
  case "$1" in
    --source) source_args=(--source "$2"); shift 2 ;;
    --gensim-sample) source_args=(--gensim-sample); name=wiki_sample; shift ;;
    --gpu-scale) scale=(--preset enwik8 --minutes 0 --gpu); shift ;;
    *) break ;;
  esac
done
bash recipes/install.sh
.venv/bin/python -m armin_plugin.data.enwik8 --dest "data-bin/$name" "${source_args[@]}"
exec .venv/bin/python -m armin_plugin.jobs.compare_lm --plan stream --data "data-bin/$name" \
  --out "runs/${name}_stream" --metric bpc "${scale[@]}" "$@"
