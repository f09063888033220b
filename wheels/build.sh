#!/usr/bin/env bash
# Build the sdist and the manylinux wheel into wheels/dist/ (see wheels/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
exec "$PY" wheels/wheels.py build "$@"
