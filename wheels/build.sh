#!/usr/bin/env bash
# Build the sdist and a manylinux wheel per CPython of the classifiers into wheels/dist/
# (see wheels/README.md). Only some: OCPPFAST_WHEEL_PYTHONS=3.12,3.13 or --pythons 3.12,3.13.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
exec "$PY" wheels/wheels.py build "$@"
