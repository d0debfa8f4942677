#!/usr/bin/env bash
# Set up (idempotent), then run the test suite, then the Docker check of the official run
# (tests marked `docker`: they build the image with container-check, several minutes).
#
# Each run keeps its temporary folders in a new folder of its own, removed at the end
# (`rm -rf` copes with any depth), so that pytest never has to clean up what earlier
# runs or other programs left in the shared /tmp/pytest-of-$USER.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
scratch="$(mktemp -d -t pgdl-tests-XXXXXX)"
trap 'rm -rf -- "$scratch"' EXIT
.venv/bin/python -m pytest -q -m "not docker" --basetemp="$scratch/suite" "$@"
.venv/bin/python -m pytest -q -m docker --basetemp="$scratch/docker" "$@"
