#!/usr/bin/env bash
# Install the built wheel and sdist into fresh venvs and test them (see wheels/README.md).
# Tests to run: OCPPFAST_WHEEL_TESTS='pytest args' (default: -m "not slow").
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
exec "$PY" wheels/wheels.py check "$@"
