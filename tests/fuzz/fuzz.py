"""Coverage-guided fuzzing of ocppfast's input paths with atheris (libFuzzer).

    python tests/fuzz/fuzz.py TARGET [libFuzzer options, e.g. -max_total_time=600]
    make fuzz FUZZ_SECONDS=600        # every target in turn

``--corpus=DIR`` uses DIR instead of the corpus directory (the test suite's short run works on a
copy). TARGET is one of ``tests/fuzz/targets.py``'s TARGETS (decode_frame, receive, compat_unpack).
Coverage guidance needs Python code: run with ``OCPPFAST_NO_EXTENSIONS=1`` (the Makefile does) so
the engine and the frame decoder are the instrumented pure-Python source; the compiled modules
are the same source, and the corpus replay test runs in both modes. The corpus lives in
``tests/fuzz/corpus/TARGET/`` (seeds are written there first); a crash is saved by libFuzzer as
``crash-*`` in the working directory: move it into the corpus directory and it becomes a test
(tests/test_abuse_fuzz.py replays every corpus file through its target).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

with atheris.instrument_imports(include=["ocppfast"]):
    from tests.fuzz.targets import SEEDS, TARGETS


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(TARGETS)}}} [libFuzzer options]")
    name = sys.argv[1]
    args = [a for a in sys.argv[2:] if not a.startswith("--corpus=")]
    chosen = [a.split("=", 1)[1] for a in sys.argv[2:] if a.startswith("--corpus=")]
    corpus = Path(chosen[0]) if chosen else HERE / "corpus" / name
    corpus.mkdir(parents=True, exist_ok=True)
    logging.disable(logging.CRITICAL)  # every bad frame is logged: not what is measured here
    for i, seed in enumerate(SEEDS):
        path = corpus / f"seed-{i}"
        if not path.exists():
            path.write_bytes(seed)
    target = TARGETS[name]
    atheris.Setup([sys.argv[0], *args, str(corpus)], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
