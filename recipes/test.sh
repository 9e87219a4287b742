#!/usr/bin/env bash
# Run the test suite (installs .venv/ first if needed). Extra arguments go to pytest.
#   bash recipes/test.sh                 # everything (as CI runs it)
#   bash recipes/test.sh -m "not slow"   # the quick local loop: no fairseq CLI start-ups, no multi-process runs
set -euo pipefail
cd "$(dirname "$0")/.."
bash recipes/install.sh
exec .venv/bin/python -m pytest tests "$@"
