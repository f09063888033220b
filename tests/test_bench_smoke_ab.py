"""Smoke tests of the one-core A/B (``make ab``), the answer-path and the callgrind benchmarks.

Tiny runs: they check that each produces its table with every server and case and a figure in
each cell, that the load servers answer with a valid date-time both ways (``ocppfast.now()`` and
per call), and leave no process behind. No timing assertions: runs this small mean nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import msgspec
import psutil
import pytest

from tests.subproc import run_python

ROOT = Path(__file__).resolve().parent.parent


def _no_children_left() -> None:
    me = psutil.Process()
    left = [p for p in me.children(recursive=True) if p.is_running()]
    assert not left, [p.cmdline() for p in left]


def test_ab_writes_its_table(tmp_path: Path) -> None:
    servers = ["echo-c", "echo", "ocppfast", "ocppfast-pure", "ocppfast-stamped"]
    run_python(
        ["-m", "benchmarks.load.ab", "--n", "1,3", "--rounds", "2", "--window", "0.3",
         "--warmup", "0.1", "--servers", ",".join(servers), "--out", str(tmp_path)],
        timeout=300,
    )  # fmt: skip
    data = json.loads((tmp_path / "ab.json").read_text())
    assert set(data["summary"]) == {"1", "3"}
    for n, samples in data["result"]["by_n"].items():
        for name in servers:
            assert len(samples[name]) == 2
            for s in samples[name]:
                assert s["calls"] > 0 and s["errors"] == 0 and s["us_per_call"] > 0, (n, name)
            # without --fresh one process serves every round
            assert len({s["pid"] for s in samples[name]}) == 1, (n, name)
    for row in data["summary"].values():
        for key in ("compiled_vs_echo", "compiled_vs_c_floor", "pure_vs_compiled"):
            assert row[key] > 0
        # every server read its frames with read(2), at most a few dozen per read here
        assert all(0 < v < 50 for v in row["calls_per_read"].values()), row["calls_per_read"]
        # and got the CPU at least once per few hundred calls
        assert all(0 < v < 500 for v in row["calls_per_slice"].values()), row["calls_per_slice"]
    table = (tmp_path / "ab.md").read_text()
    assert re.search(r"^\| 3 \|( [0-9.]+x? \|){10}$", table, re.MULTILINE), table
    assert "datetime per call" in table
    _no_children_left()


def test_ab_runs_the_rotation_workload_into_its_own_files(tmp_path: Path) -> None:
    """``--workload rotation``: the load harness's steady rotation, written next to (not over)
    the Heartbeat table; with ``--fresh``, every round on new server processes."""
    run_python(
        ["-m", "benchmarks.load.ab", "--workload", "rotation", "--fresh", "--n", "2",
         "--rounds", "3", "--window", "0.3", "--warmup", "0.1",
         "--servers", "echo-c,echo,ocppfast,ocppfast-pure",
         "--out", str(tmp_path)],
        timeout=300,
    )  # fmt: skip
    assert not (tmp_path / "ab.json").exists()
    data = json.loads((tmp_path / "ab-rotation.json").read_text())
    assert data["result"]["workload"] == "rotation"
    for name in ("echo-c", "echo", "ocppfast", "ocppfast-pure"):
        rounds = data["result"]["by_n"]["2"][name]
        assert len(rounds) == 3 and all(s["calls"] > 0 and s["errors"] == 0 for s in rounds)
        # a new server process for every round, and every round answered by its own process
        assert len({s["pid"] for s in rounds}) == 3, (name, rounds)
    table = (tmp_path / "ab-rotation.md").read_text()
    assert "StatusNotification, MeterValues" in table.splitlines()[0]
    _no_children_left()


def test_ab_runs_a_baseline_checkout_next_to_this_one(tmp_path: Path) -> None:
    """``--baseline DIR``: the ocppfast server of another checkout joins the rounds; here the
    same checkout, so both must answer and be paired."""
    run_python(
        ["-m", "benchmarks.load.ab", "--n", "2", "--rounds", "2", "--window", "0.3",
         "--warmup", "0.1", "--servers", "echo-c,echo,ocppfast,ocppfast-pure",
         "--baseline", str(ROOT), "--out", str(tmp_path)],
        timeout=300,
    )  # fmt: skip
    data = json.loads((tmp_path / "ab.json").read_text())
    for name in ("baseline", "baseline-pure"):
        rounds = data["result"]["by_n"]["2"][name]
        assert len(rounds) == 2 and all(s["calls"] > 0 and s["errors"] == 0 for s in rounds)
    row = data["summary"]["2"]
    assert row["compiled_vs_baseline"] > 0 and row["pure_vs_baseline_pure"] > 0
    assert "This checkout / `--baseline`'s" in (tmp_path / "ab.md").read_text()
    _no_children_left()


def test_answer_path_benchmark_reports_every_case() -> None:
    out = run_python(["benchmarks/bench_answer_path.py", "--quick"], timeout=300).stdout
    for case in ("Heartbeat, cached reply", "Heartbeat, now()", "Heartbeat, new time every call",
                 "MeterValues x10, date-time unchecked (floor)",
                 "MeterValues x10, generated check", "MeterValues x10, regex check (before)"):  # fmt: skip
        assert re.search(
            rf"^\| {re.escape(case)} \| \d+ \| [0-9.]+x \| \d+ \|", out, re.MULTILINE
        ), out
    assert "did not load the compiled modules" not in out


@pytest.mark.skipif(
    shutil.which("valgrind") is None or shutil.which("callgrind_control") is None,
    reason="valgrind is not installed",
)
def test_callgrind_counts_instructions(tmp_path: Path) -> None:
    out = tmp_path / "cg.md"
    run_python(
        ["benchmarks/bench_callgrind.py", "--calls", "50", "--warmup", "10", "--servers",
         "echo-c,echo", "--out", str(out)],
        timeout=600,
    )  # fmt: skip
    rows = json.loads(out.with_suffix(".json").read_text())
    assert [r["server"] for r in rows] == ["echo-c", "echo"]
    # a window of 50 round trips holds at least a few thousand instructions each
    assert all(r["calls"] == 50 and r["ir_per_call"] > 1000 for r in rows)
    _no_children_left()


@pytest.mark.skipif(
    shutil.which("valgrind") is None or shutil.which("callgrind_control") is None,
    reason="valgrind is not installed",
)
def test_callgrind_with_many_connections_counts_exact_round_trips(tmp_path: Path) -> None:
    """``--chargers N``: N connections with one CALL outstanding each; the window still holds
    exactly ``--calls`` round trips (fewer than N here: not every connection sends in it), and
    the cache model of ``--ll`` reports misses per call."""
    out = tmp_path / "cg.md"
    run_python(
        ["benchmarks/bench_callgrind.py", "--calls", "40", "--warmup", "10", "--servers",
         "echo-c", "--chargers", "60", "--cache-sim", "--ll", "1048576,16,64",
         "--workload", "rotation", "--out", str(out)],
        timeout=600,
    )  # fmt: skip
    (row,) = json.loads(out.with_suffix(".json").read_text())
    assert (row["chargers"], row["calls"]) == (60, 40)
    assert row["ir_per_call"] > 1000 and row["DLmr_per_call"] >= 0
    text = out.read_text()
    assert "N=60 (60 chargers" in text and "--chargers 60 --ll 1048576,16,64" in text
    _no_children_left()


@pytest.mark.parametrize("per_call", [False, True], ids=["now", "per-call"])
def test_load_server_answers_with_a_valid_date_time(per_call: bool) -> None:
    code = (
        "import asyncio, os\n"
        "from benchmarks.load.servers import ocppfast_cs as m\n"
        "s = m.OcppfastServer()\n"
        "print(m.PER_CALL_TIME, m._now())\n"
    )
    env_value = "1" if per_call else ""
    proc = subprocess.run(
        [sys.executable, "-c", code], check=False, cwd=ROOT, capture_output=True, text=True,
        timeout=60, env={**os.environ, "BENCH_PER_CALL_TIME": env_value},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    flag, stamp = proc.stdout.split()
    assert flag == str(per_call)
    from ocppfast.v16 import HeartbeatResponse

    body = msgspec.json.encode({"currentTime": stamp})
    assert msgspec.json.decode(body, type=HeartbeatResponse).current_time == stamp
    assert stamp.endswith("+00:00") is per_call  # datetime.isoformat() vs now()'s Z


def test_ab_pairs_now_per_call_with_answers_built_once(tmp_path: Path) -> None:
    """``make answer-path``'s end-to-end half: ``ocppfast-cached`` (answers built once) joins the
    rounds when named, the ratio is reported, and ``--name`` picks the files."""
    run_python(
        ["-m", "benchmarks.load.ab", "--n", "2", "--rounds", "2", "--window", "0.3",
         "--warmup", "0.1", "--servers", "echo-c,echo,ocppfast,ocppfast-cached",
         "--name", "e2e", "--out", str(tmp_path)],
        timeout=300,
    )  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e2e.json", "e2e.md"]
    data = json.loads((tmp_path / "e2e.json").read_text())
    rounds = data["result"]["by_n"]["2"]["ocppfast-cached"]
    assert len(rounds) == 2 and all(s["calls"] > 0 and s["errors"] == 0 for s in rounds)
    assert data["summary"]["2"]["now_vs_cached"] > 0
    assert "answers built once" in data["result"]["impl"]["ocppfast-cached"]
    assert "`ocppfast-cached`" in (tmp_path / "e2e.md").read_text()
    _no_children_left()
