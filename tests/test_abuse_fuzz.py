"""The fuzz targets (tests/fuzz/targets.py): every saved corpus input replayed in both modes, and
a short coverage-guided atheris run of each target (``make fuzz`` runs them for long)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fuzz import targets

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "fuzz" / "corpus"
FUZZ_RUNS = int(os.environ.get("OCPPFAST_FUZZ_RUNS", "3000"))


def _inputs(name: str) -> list[tuple[str, bytes]]:
    found = [(f"seed-{i}", seed) for i, seed in enumerate(targets.SEEDS)]
    directory = CORPUS / name
    if directory.is_dir():
        found += [(p.name, p.read_bytes()) for p in sorted(directory.iterdir()) if p.is_file()]
    return found


@pytest.fixture
def fresh_engines() -> Any:
    loop = asyncio.new_event_loop()
    targets._loop = loop
    targets._engines.clear()
    yield
    targets._engines.clear()
    targets._loop = None
    loop.close()


@pytest.mark.parametrize("name", sorted(targets.TARGETS))
def test_corpus_replays_clean(name: str, fresh_engines: Any) -> None:
    """Crashes found by the fuzzer are saved in tests/fuzz/corpus/<target>/ and stay fixed."""
    target = targets.TARGETS[name]
    inputs = _inputs(name)
    assert inputs
    for label, data in inputs:
        try:
            target(data)
        except Exception as exc:
            raise AssertionError(f"{name} failed on corpus input {label}: {data[:200]!r}") from exc


@pytest.mark.parametrize("name", sorted(targets.TARGETS))
def test_short_fuzz_run(name: str, tmp_path: Path) -> None:
    """A bounded atheris run (``OCPPFAST_FUZZ_RUNS`` inputs, default 3,000) on the pure-Python
    source (coverage guidance needs it), starting from a copy of the corpus."""
    pytest.importorskip("atheris")
    work = tmp_path / "corpus"
    work.mkdir()
    for label, data in _inputs(name):
        (work / label).write_bytes(data)
    proc = subprocess.run(
        [
            sys.executable,
            str(HERE / "fuzz" / "fuzz.py"),
            name,
            f"-runs={FUZZ_RUNS}",
            f"--corpus={work}",
        ],
        check=False,
        cwd=tmp_path,  # a crash file lands here, not in the tree
        env={**os.environ, "OCPPFAST_NO_EXTENSIONS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not list(tmp_path.glob("crash-*"))
