#!/usr/bin/env bash
# IWSLT'14 German-English, the standard benchmark: ARMIN (armin_iwslt_de_en) beside
# fairseq's lstm_wiseman_iwslt_de_en on identical data, fairseq-generate --beam 5 on the
# test set, detokenized sacrebleu BLEU and chrF, one table and TensorBoard logs.
#
#   bash recipes/iwslt14_de_en.sh                        # downloads de-en.tgz (online)
#   IWSLT14_SOURCE=~/de-en.tgz bash recipes/iwslt14_de_en.sh   # a local copy (.tgz or folder)
#   VOCAB_SIZE=16000 bash recipes/iwslt14_de_en.sh       # joint BPE size (default 10,000)
#   TRAIN_MINUTES=60 bash recipes/iwslt14_de_en.sh       # budget per model (default: none, 50 epochs)
#
# Preparation (armin_plugin/data/iwslt14.py), the usual conventions of fairseq's
# prepare-iwslt14.sh: metadata lines (<url>, <talkid>, <keywords>, ...) dropped and
# <title>/<description> tags removed; training pairs kept with 1-175 words a side and a
# length ratio <= 1.5; every 23rd training pair is the validation set; the test set is
# TED.dev2010 + TEDX.dev2012 + TED.tst2010-2012; all text LOWERCASED. Unlike that script,
# no Moses tokenizer: one joint sentencepiece BPE model on the raw text, so BLEU is
# detokenized (sacrebleu) on lowercased text and not comparable with tokenized BLEU.
# Meant for a GPU (add --gpu); extra arguments go to compare_translation.
set -euo pipefail
cd "$(dirname "$0")/.."

bash recipes/install.sh
PY=.venv/bin/python
$PY -m armin_plugin.data.iwslt14 --source "${IWSLT14_SOURCE:-http://dl.fbaipublicfiles.com/fairseq/data/iwslt14/de-en.tgz}" \
  --raw raw/iwslt14_de_en --dest data-bin/iwslt14_de_en --vocab-size "${VOCAB_SIZE:-10000}"
exec $PY -m armin_plugin.jobs.compare_translation --data data-bin/iwslt14_de_en --out runs/iwslt14_de_en \
  --preset full --minutes "${TRAIN_MINUTES:-0}" "$@"
