"""``python <args>`` run from the repository's root, for the tests of the benchmark tools."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_python(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``python <args>`` in the repository (this interpreter); it must exit 0."""
    proc = subprocess.run(
        [sys.executable, *args],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc
