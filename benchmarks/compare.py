"""Run the micro benchmarks compiled and pure, side by side with mobilityhouse ``ocpp``; print ratios.

    python benchmarks/compare.py            # full run (about two minutes on 2 cores)
    python benchmarks/compare.py --quick    # smoke run for CI (seconds); figures are rough

Each suite (``bench_wire.py``, ``bench_engine.py``, and ``bench_messages.py`` when present) runs in
a subprocess per mode, compiled then pure (``OCPPFAST_NO_EXTENSIONS=1``, which ocppfast reads at
import time), repeated ``--passes`` times (alternating compiled, pure, compiled, pure, ...) so both
modes of a suite are measured close together and a burst of load on a shared machine does not
decide a ratio. mobilityhouse does not depend on the mode and runs in the compiled passes.

Figures are operations per second per message from the fastest round, best of the passes (noise
from other processes only ever adds time, so the minimum is the stable estimate of a path's cost;
every implementation is measured the same way). Batches driven by the event loop are divided by
their size. The clock is the process's CPU time by default (``--timer cpu``: all its threads,
so mobilityhouse's validation in its thread pool counts, its idle hand-off waits do not, which
favours mobilityhouse; time stolen by other processes on a shared machine does not count either);
``--timer wall`` uses ``time.perf_counter``. Output:
``benchmarks/results/{compiled,pure}.json`` (pytest-benchmark's own format), ``summary.json`` and
``summary.md`` (this table); ``--quick`` writes the same names ending in ``.tmp`` (not committed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
TIMERS = {"cpu": "time.process_time", "wall": "time.perf_counter"}
SUITES = ("bench_wire.py", "bench_engine.py", "bench_messages.py")
MODES = ("compiled", "pure")

# pytest-benchmark settings: (min_time, max_time, min_rounds) per run kind. A round lasts at least
# 50 us so reading the CPU clock (a system call) stays under 1% of it.
FULL = ("0.00005", "0.25", "5")
QUICK = ("0.00005", "0.005", "2")

# Goals from the issues: (title, suite, group prefix, ocppfast case suffix, peer, goal).
GOALS = [
    (
        "frame decode vs mobilityhouse unpack (issue 2)",
        "wire",
        "wire decode:",
        ": frame",
        "default",
        20.0,
    ),
    (
        "engine BootNotification vs mobilityhouse default (issue 4)",
        "engine",
        "engine incoming: BootNotification",
        "BootNotification, sync handler",
        "default",
        100.0,
    ),
    (
        "engine MeterValues vs mobilityhouse default (issue 4)",
        "engine",
        "engine incoming: MeterValues",
        "MeterValues(10), sync handler",
        "default",
        100.0,
    ),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="smoke run for CI: seconds, rough figures"
    )
    parser.add_argument(
        "--timer",
        choices=TIMERS,
        default="cpu",
        help="cpu: process CPU time (default, steady on a shared machine); wall: perf_counter",
    )
    parser.add_argument(
        "--passes",
        type=int,
        default=None,
        help="alternating compiled/pure passes per suite (default 2; 1 with --quick)",
    )
    parser.add_argument(
        "--suite",
        action="append",
        choices=[s[6:-3] for s in SUITES],
        help="run only this suite (repeatable); default: all present",
    )
    args = parser.parse_args()

    suites = [
        s for s in SUITES if (HERE / s).exists() and (not args.suite or s[6:-3] in args.suite)
    ]
    suffix = ".tmp" if args.quick else ""
    RESULTS.mkdir(exist_ok=True)
    started = time.monotonic()

    loaded = {mode: _loaded_modules(mode) for mode in MODES}
    for mode in MODES:
        print(f"# {mode}: ocppfast modules loaded: {loaded[mode]}", flush=True)
    if loaded["compiled"].get("wire") != "compiled":
        print(
            "# WARNING: the compiled modules are not built; the 'compiled' column is pure Python.\n"
            "#          Build them: .venv/bin/python setup.py build_ext --inplace -q",
            flush=True,
        )

    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    failed: list[str] = []
    passes = args.passes or (1 if args.quick else 2)
    for suite in suites:
        for n in range(passes):
            for mode in MODES:
                data, ok = _run_suite(suite, mode, args.quick, n, TIMERS[args.timer])
                if not ok and f"{suite} ({mode})" not in failed:
                    failed.append(f"{suite} ({mode})")
                if data is not None:
                    runs[mode].append(data)

    merged = {mode: _merge(runs[mode]) for mode in MODES}
    # What the benchmark processes really loaded (a rebuild by someone else during the run shows).
    for mode in MODES:
        seen = {
            json.dumps(b["extra_info"]["modules"], sort_keys=True)
            for b in merged[mode]["benchmarks"]
            if "modules" in b.get("extra_info", {})
        }
        if seen:
            loaded[mode] = {k: v for s in sorted(seen) for k, v in json.loads(s).items()}
            if len(seen) > 1:
                loaded[mode]["note"] = f"changed during the run: {sorted(seen)}"
        if mode == "compiled" and any('"pure"' in s for s in seen):
            print(
                "# WARNING: part of the 'compiled' run used pure-Python modules; rebuild and rerun."
            )
    for mode in MODES:
        (RESULTS / f"{mode}.json{suffix}").write_text(json.dumps(merged[mode], indent=1) + "\n")

    rows = _rows(merged)
    goals = _goals(rows)
    table = _markdown(rows, goals, loaded, args.quick, passes, args.timer)
    print()
    print(table)
    summary = {
        "quick": args.quick,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "modules": loaded,
        "unit": "operations per second per message, fastest round, best of the passes",
        "passes": passes,
        "timer": TIMERS[args.timer],
        "rows": rows,
        "goals": goals,
        "failed": failed,
    }
    (RESULTS / f"summary.json{suffix}").write_text(json.dumps(summary, indent=1) + "\n")
    (RESULTS / f"summary.md{suffix}").write_text(table + "\n")
    print(
        f"\n(wrote {RESULTS.relative_to(ROOT)}/{{compiled,pure,summary}}.json{suffix}, "
        f"summary.md{suffix}; {time.monotonic() - started:.0f} s)"
    )
    if failed:
        print(f"FAILED: {', '.join(failed)} (see the pytest output above)")
        return 1
    return 0


def _env(mode: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("OCPPFAST_NO_EXTENSIONS", None)
    if mode == "pure":
        env["OCPPFAST_NO_EXTENSIONS"] = "1"
    return env


def _loaded_modules(mode: str) -> dict[str, str]:
    """Ask a fresh interpreter in ``mode`` which implementation it loads."""
    code = (
        "import json, sys\n"
        "sys.path.insert(0, '.')\n"
        "from benchmarks.conftest import modes\n"
        "print(json.dumps(modes()))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_env(mode),
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _run_suite(
    suite: str, mode: str, quick: bool, n: int, timer: str
) -> tuple[dict[str, Any] | None, bool]:
    min_time, max_time, min_rounds = QUICK if quick else FULL
    out = RESULTS / f".{suite[:-3]}-{mode}.json.tmp"
    out.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        f"benchmarks/{suite}",
        "-q",
        "-p",
        "no:cacheprovider",
        "--continue-on-collection-errors",
        "--benchmark-only",
        f"--benchmark-json={out}",
        f"--benchmark-min-time={min_time}",
        f"--benchmark-max-time={max_time}",
        f"--benchmark-min-rounds={min_rounds}",
        f"--benchmark-timer={timer}",
        "--benchmark-columns=min,median,rounds",
    ]
    if mode == "pure":
        cmd += ["-k", "not mobilityhouse"]  # the peer does not depend on ocppfast's mode
    env = _env(mode)
    if quick:
        env["OCPPFAST_BENCH_BATCH"] = "10"
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    tail = proc.stdout.strip().splitlines()[-1:] or [""]
    print(
        f"# {suite} [{mode}, pass {n + 1}]: {tail[0]} ({time.monotonic() - t0:.0f} s)", flush=True
    )
    ok = proc.returncode == 0
    if not ok:
        sys.stdout.write(proc.stdout[-6000:] + proc.stderr[-3000:])
    if not out.exists():
        return None, False
    data = json.loads(out.read_text())
    out.unlink()
    for bench in data.get("benchmarks", []):
        bench.setdefault("extra_info", {})["suite"] = suite[6:-3]
        bench["extra_info"]["pass"] = n + 1
    return data, ok


def _merge(datas: list[dict[str, Any]]) -> dict[str, Any]:
    if not datas:
        return {"benchmarks": []}
    merged = dict(datas[0])
    merged["benchmarks"] = [b for d in datas for b in d.get("benchmarks", [])]
    for bench in merged["benchmarks"]:
        bench.get("stats", {}).pop("data", None)  # every round's time: megabytes, not kept
    return merged


def _describe(bench: dict[str, Any]) -> dict[str, Any]:
    """impl, case, peer, group, per-message ops of one pytest-benchmark entry.

    Entries without our ``extra_info`` (another suite's) are read from their names: a name that
    mentions mobilityhouse is the peer.
    """
    info = bench.get("extra_info", {})
    name = bench.get("name", "")
    impl = info.get("impl") or ("mobilityhouse" if "mobilityhouse" in name.lower() else "ocppfast")
    stats = bench["stats"]
    per_round = float(info.get("messages_per_round", 1))
    best = stats["min"]
    return {
        "suite": info.get("suite", "?"),
        "group": bench.get("group") or name,
        "impl": impl,
        # bench_messages names its groups "messages decode: <msg>" / "messages encode: <msg>"
        "case": (
            bench["group"].removeprefix("messages ")
            if str(bench.get("group")).startswith("messages ")
            else info.get("case") or name.removeprefix("test_")
        ),
        "peer": info.get("peer", "default"),
        "ops": per_round / best if best else 0.0,
    }


def _rows(merged: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per ocppfast case: compiled and pure ops, its group's peers, ratios."""
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    peers: dict[tuple[str, str], dict[str, float]] = {}
    for mode in MODES:
        for bench in merged[mode]["benchmarks"]:
            d = _describe(bench)
            if d["impl"] != "ocppfast":
                if mode == "compiled":
                    group_peers = peers.setdefault((d["suite"], d["group"]), {})
                    group_peers[d["peer"]] = max(group_peers.get(d["peer"], 0.0), d["ops"])
                continue
            key = (d["suite"], d["group"], d["case"])
            row = rows.setdefault(
                key, {"suite": d["suite"], "group": d["group"], "case": d["case"]}
            )
            row[mode] = max(row.get(mode) or 0.0, d["ops"])  # best of the passes
    out = []
    for key, row in rows.items():
        compiled, pure = row.get("compiled"), row.get("pure")
        row["compiled_over_pure"] = compiled / pure if compiled and pure else None
        row["mobilityhouse"] = peers.get(key[:2], {})
        row["compiled_over_mobilityhouse"] = {
            peer: compiled / ops for peer, ops in row["mobilityhouse"].items() if compiled and ops
        }
        row["pure_over_mobilityhouse"] = {
            peer: pure / ops for peer, ops in row["mobilityhouse"].items() if pure and ops
        }
        out.append(row)
    return out


def _goals(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for title, suite, group, case_part, peer, goal in GOALS:
        ratios = [
            r["compiled_over_mobilityhouse"][peer]
            for r in rows
            if r["suite"] == suite
            and r["group"].startswith(group)
            and r["case"].endswith(case_part)
            and peer in r["compiled_over_mobilityhouse"]
        ]
        if ratios:
            out.append(
                {
                    "goal": title,
                    "target": goal,
                    "worst": min(ratios),
                    "best": max(ratios),
                    "met": min(ratios) >= goal,
                }
            )
    engine = [
        r["compiled_over_pure"] for r in rows if r["suite"] == "engine" and r["compiled_over_pure"]
    ]
    if engine:
        out.append(
            {
                "goal": "engine compiled vs pure (issue 4)",
                "target": 1.3,
                "worst": min(engine),
                "best": max(engine),
                "met": min(engine) >= 1.3,
            }
        )
    return out


def _ops(x: float | None) -> str:
    if not x:
        return "-"
    if x >= 1e6:
        return f"{x / 1e6:.2f} M"
    if x >= 1e3:
        return f"{x / 1e3:.1f} k"
    return f"{x:.0f}"


def _ratio(x: float | None) -> str:
    return f"{x:.1f}x" if x else "-"


def _markdown(
    rows: list[dict[str, Any]],
    goals: list[dict[str, Any]],
    loaded: dict[str, Any],
    quick: bool,
    passes: int,
    timer: str,
) -> str:
    lines = [
        (
            f"ocppfast micro benchmarks{' (QUICK: rough figures)' if quick else ''}: operations "
            f"per second per message ({'process CPU time' if timer == 'cpu' else 'wall time'}, "
            f"fastest round, best of {passes} alternating pass(es)), ocppfast compiled and pure "
            "against mobilityhouse ocpp 2.1.0, same run; "
            f"Python {platform.python_version()}, {os.cpu_count()} CPUs."
        ),
        f"Modules: compiled run {loaded['compiled']}, pure run {loaded['pure']}.",
    ]
    for suite in dict.fromkeys(r["suite"] for r in rows):
        srows = [r for r in rows if r["suite"] == suite]
        peer_names = sorted(
            {p for r in srows for p in r["mobilityhouse"]}, key=lambda p: (p != "default", p)
        )
        head = ["case", "compiled", "pure", "compiled/pure"]
        for p in peer_names:
            head += [f"mobilityhouse {p}", f"compiled/mh {p}"]
        lines += [
            "",
            f"### {suite}",
            "",
            "| " + " | ".join(head) + " |",
            "|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|",
        ]
        for r in srows:
            cells = [
                r["case"],
                _ops(r.get("compiled")),
                _ops(r.get("pure")),
                _ratio(r["compiled_over_pure"]),
            ]
            for p in peer_names:
                cells += [
                    _ops(r["mobilityhouse"].get(p)),
                    _ratio(r["compiled_over_mobilityhouse"].get(p)),
                ]
            lines.append("| " + " | ".join(cells) + " |")
    if goals:
        lines += ["", "### goals", ""]
        for g in goals:
            lines.append(
                f"- {g['goal']}: worst {g['worst']:.1f}x, best {g['best']:.1f}x, goal >= "
                f"{g['target']:g}x: {'met' if g['met'] else 'NOT met'}"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
