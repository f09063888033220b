"""The cluster demo reads its workers' "ready" lines through ``_LineReader``: several lines that
arrive in one write are all seen before the deadline (select() on a buffered file object would
wait for the second on an empty pipe), a partial line waits for its end, EOF ends the reading."""

from __future__ import annotations

import os
import time

from ocppfast.cli_cluster import _LineReader


def test_lines_of_one_write_are_all_read_before_the_deadline() -> None:
    r, w = os.pipe()
    try:
        os.write(w, b"worker 0 ready\nworker 1 ready\npart")
        lines = _LineReader(r)
        deadline = time.monotonic() + 30
        assert lines.readline(deadline) == "worker 0 ready\n"
        assert lines.readline(deadline) == "worker 1 ready\n"
        # A partial line is not a line: with nothing more written, the deadline ends the wait.
        assert lines.readline(time.monotonic() + 0.05) == ""
        os.write(w, b"ial\n")
        assert lines.readline(deadline) == "partial\n"
        os.write(w, b"last, no newline")
        os.close(w)
        w = -1
        assert lines.readline(deadline) == "last, no newline"
        assert lines.readline(deadline) == ""  # EOF
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
