#!/usr/bin/env bash
# Run every benchmark: bash bench/run.sh [--quick] [--only SUITE,...]
# Installs the bench-only packages into the project's venv (.venv, or $PYTHON's) if missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
if ! "$PYTHON" -c 'import llm_sandbox, matplotlib, psutil' 2>/dev/null; then
    "$PYTHON" -m pip install -q -r bench/requirements.txt
fi
exec "$PYTHON" -m bench "$@"
