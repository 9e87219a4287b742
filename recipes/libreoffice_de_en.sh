#!/usr/bin/env bash
# German-English translation on the LibreOffice help (offline: Debian packages), ARMIN
# (armin_iwslt_de_en) beside fairseq's lstm_wiseman_iwslt_de_en on identical data:
#   1. apt-get download libreoffice-help-de libreoffice-help-en-us into raw/debs (once),
#      dpkg-deb -x, pair paragraphs by (page, id), split by page, check the counts;
#   2. joint sentencepiece BPE (VOCAB_SIZE pieces: 2,000 quick, 8,000 full), fairseq-preprocess
#      -> data-bin/libreoffice_de_en (data-bin/libreoffice_de_en_full);
#   3. python -m armin_plugin.jobs.compare_translation: train both, fairseq-generate --beam 5 on
#      test, detokenized sacrebleu BLEU and chrF, one table (results.md), TensorBoard logs.
#
#   bash recipes/libreoffice_de_en.sh                  # CPU budget: about 15 minutes in all
#   TRAIN_MINUTES=10 bash recipes/libreoffice_de_en.sh  # more training per model (default 5)
#   ARMIN_RUN=full bash recipes/libreoffice_de_en.sh    # full run: 50 epochs each (add --gpu)
#   bash recipes/libreoffice_de_en.sh --nprocs 2        # each model on 2 CPU processes (armin-launch)
#   bash recipes/libreoffice_de_en.sh --side-by-side    # both models at once, each on its share of the cores
#
# Text is kept cased and untokenized (sentencepiece works on raw text; BLEU is detokenized
# and cased). Extra arguments go to compare_translation (see its --help). Output:
# runs/libreoffice_de_en (runs/libreoffice_de_en_full).
set -euo pipefail
cd "$(dirname "$0")/.."

bash recipes/install.sh
PY=.venv/bin/python
case "${ARMIN_RUN:-quick}" in
  quick) DATA=data-bin/libreoffice_de_en OUT=runs/libreoffice_de_en PRESET=quick
         VOCAB=${VOCAB_SIZE:-2000} MINUTES=${TRAIN_MINUTES:-5} ;;
  full)  DATA=data-bin/libreoffice_de_en_full OUT=runs/libreoffice_de_en_full PRESET=full
         VOCAB=${VOCAB_SIZE:-8000} MINUTES=${TRAIN_MINUTES:-0} ;;
  *) echo "error: ARMIN_RUN must be quick or full, got '${ARMIN_RUN}'" >&2; exit 1 ;;
esac
$PY -m armin_plugin.data.libreoffice --debs raw/debs --raw raw/libreoffice_de_en --dest "$DATA" --vocab-size "$VOCAB"
exec $PY -m armin_plugin.jobs.compare_translation --data "$DATA" --out "$OUT" --preset "$PRESET" --minutes "$MINUTES" "$@"
