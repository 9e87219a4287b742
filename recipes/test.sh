#!/usr/bin/env bash
# Run the test suite (installs .venv/ first if needed). Extra arguments go to pytest.
#   bash recipes/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash recipes/install.sh
exec .venv/bin/python -m pytest tests "$@"
