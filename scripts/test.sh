#!/usr/bin/env bash
# Set up (idempotent), then run the test suite, then the Docker check of the official run
# (tests marked `docker`: they build the image with container-check, several minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
.venv/bin/python -m pytest -q -m "not docker" "$@"
.venv/bin/python -m pytest -q -m docker "$@"
