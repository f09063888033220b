#!/usr/bin/env bash
# Install each built wheel (in a venv of its own CPython) and the sdist into fresh venvs and test
# them (see wheels/README.md). Tests to run: OCPPFAST_WHEEL_TESTS='pytest args' (default:
# DEFAULT_TESTS in wheels.py); which CPythons: OCPPFAST_WHEEL_PYTHONS=3.12,3.13.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
exec "$PY" wheels/wheels.py check "$@"
