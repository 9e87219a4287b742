#!/usr/bin/env bash
# Run the test suite (installs .venv/ first if needed), one pytest-xdist worker per core (nproc)
# (TEST_WORKERS=N to choose; 0: in this process). The slow tests are collected first and an idle
# worker takes tests queued on the other (--dist worksteal), so the long runs start early and the
# workers finish together. Extra arguments go to pytest.
#   bash recipes/test.sh                 # everything (as CI runs it)
#   bash recipes/test.sh -m "not slow"   # the quick local loop: no fairseq CLI start-ups, no multi-process runs
#   TEST_WORKERS=0 bash recipes/test.sh tests/test_cli_lm.py -x   # one file, in order
set -euo pipefail
cd "$(dirname "$0")/.."
bash recipes/install.sh
exec .venv/bin/python -m pytest tests -n "${TEST_WORKERS:-$(nproc)}" --dist worksteal "$@"
