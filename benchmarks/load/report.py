"""Results -> ``load.json``, ``load.md`` (also printed) and ``load.png``."""

from __future__ import annotations

import json
import os
import statistics
from typing import Any

ECHO = "echo"
PEER = "mobilityhouse"
GOAL_SERVER = "ocppfast"
KIB = 1024.0


def _f(v: float | None, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def _ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "-"
    return f"{a / b:.2f}x"


SHARED = "@shared-core"


def _steady_order(key: str) -> tuple[int, bool]:
    n, _, variant = key.partition("@")
    return int(n), bool(variant)


def steady_label(key: str) -> str:
    n, _, variant = key.partition("@")
    return f"{n} (one core)" if variant else n


def steady_rows(results: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """{"100" or "1@shared-core": {server: steady figures}}, ordered by charger count. Where a
    server has both a small (interleaved) row and a scale run's steady phase at the same N, the
    small row's medians are its figures: ratios are paired within its rounds."""
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    for name, entry in results["servers"].items():
        for n, s in entry.get("steady_small", {}).items():
            if isinstance(s, dict) and s.get("status") == "ok":
                rows.setdefault(n, {})[name] = s
        for n, row in entry.get("scale", {}).items():
            if "steady" in row:  # the interleaved rounds above, when there are, come first
                rows.setdefault(n, {}).setdefault(name, row["steady"])
    return {k: rows[k] for k in sorted(rows, key=_steady_order)}


ECHO_C = "echo-c"
PURE = "ocppfast-pure"
COMPAT = "compat-picows"
STAMPED = "ocppfast-stamped"
CACHED = "ocppfast-cached"
# The result of a goal row shown for information only (see goals: one charger across two cores)
INFO = "INFO"


def goals(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Issue #14's goals for the compiled server and #10's for compat on picows (when the run
    has those servers), each against a server of the same run."""
    servers = results["servers"]
    out: list[tuple[str, str, str, str]] = []
    steady = steady_rows(results)

    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else ("PASS" if ok else "MISS")

    # A lone charger's goals are read on one core when the run has that row (as #14's own
    # figures were measured: server and client pinned to one core). Across two cores the round
    # trip waits for the hypervisor to wake an idle vCPU, which moves a round's figure by up to
    # 2x (round by round 0.90-2.00x in one run): that row is shown, marked INFO, not judged.
    one_core = "1" + SHARED in steady

    def judged(key: str, ok: bool | None) -> str:
        if key == "1" and one_core and ok is not None:
            return INFO
        return verdict(ok)

    def fig(key: str, name: str, field: str) -> float | None:
        v = steady.get(key, {}).get(name, {}).get(field)
        return float(v) if v else None

    def paired(key: str, names: tuple[str, ...], field: str, f: Any) -> float | None:
        """``f`` of the servers' figures: the median of ``f`` over the rounds paired in time
        when every one of ``names`` has the same number of interleaved rounds (harness'
        ``run_small``), else ``f`` of their figures (medians or one run)."""
        rows = [steady.get(key, {}).get(name, {}) for name in names]
        rounds = [row.get("rounds") or [] for row in rows]
        if len(rounds[0]) > 1 and all(len(r) == len(rounds[0]) for r in rounds):
            vals = []
            for i in range(len(rounds[0])):
                xs = [r[i].get(field) for r in rounds]
                if all(xs):
                    v = f(*[float(x) for x in xs])
                    if v is not None:
                        vals.append(v)
            return statistics.median(vals) if vals else None
        xs2 = [fig(key, name, field) for name in names]
        if any(x is None for x in xs2):
            return None
        return f(*xs2)  # type: ignore[no-any-return]

    def ratio(key: str, a: str, b: str, field: str) -> float | None:
        return paired(key, (a, b), field, lambda x, y: x / y)

    def add(what: str, r: float | None, target: str, ok: bool | None, key: str = "") -> None:
        out.append((what, "-" if r is None else f"{r:.2f}x", target, judged(key, ok)))

    cpu = "server_cpu_us_per_call"
    if COMPAT in servers:
        # #10: the mobilityhouse-style class on compat.serve against the same handlers written
        # for the native API (a datetime per answer, as the class makes: ocppfast-stamped) and
        # against mobilityhouse itself.
        for key in ("100", "1000"):
            r = ratio(key, COMPAT, STAMPED, cpu)
            add(
                f"compat on picows vs the same handlers native, CPU per call, {key}",
                r,
                "<= 1.3x",
                None if r is None else r <= 1.3,
            )
            r = ratio(key, PEER, COMPAT, cpu)
            add(
                f"mobilityhouse / compat on picows, CPU per call, {key}",
                r,
                ">= 10x",
                None if r is None else r >= 10,
            )
    if GOAL_SERVER not in servers:
        return out
    keys = [k for k in ("1", "1" + SHARED, "100", "1000") if k in steady]
    for key in keys:
        limit = 1.15 if key.partition("@")[0] == "1" else 1.05
        r = ratio(key, GOAL_SERVER, ECHO, cpu)
        add(
            f"server CPU per call vs Python echo, {steady_label(key)}",
            r,
            f"<= {limit}x",
            None if r is None else r <= limit,
            key,
        )
    for key in keys:
        if key.partition("@")[0] != "1":
            continue
        r = ratio(key, GOAL_SERVER, ECHO, "calls_per_s")
        add(
            f"round trips vs Python echo, {steady_label(key)}",
            r,
            ">= 0.95x",
            None if r is None else r >= 0.95,
            key,
        )
    r = ratio("100", GOAL_SERVER, ECHO_C, cpu)
    add("server CPU per call vs the C floor, 100", r, "<= 1.3x", None if r is None else r <= 1.3)
    for key in ("100", "1000"):
        if key not in steady:
            continue
        r = ratio(key, PURE, GOAL_SERVER, cpu)
        add(
            f"end to end, pure / compiled CPU per call, {key}",
            r,
            ">= 1.25x",
            None if r is None else r >= 1.25,
        )
        layer = paired(
            key,
            (GOAL_SERVER, PURE, ECHO_C),
            cpu,
            lambda me, pure, floor: (pure - floor) / (me - floor) if me > floor else None,
        )
        add(
            f"OCPP layer (minus the C floor), pure / compiled, {key}",
            layer,
            ">= 2x",
            None if layer is None else layer >= 2,
        )
    if CACHED in servers:
        # the answer path users write: ocppfast's handlers build every answer with
        # ocppfast.now(); ocppfast-cached's answer with objects built once
        for key in keys:
            r = ratio(key, GOAL_SERVER, CACHED, cpu)
            add(
                f"answer built per call with now() vs built once, CPU per call, "
                f"{steady_label(key)}",
                r,
                "<= 1.2x",
                None if r is None else r <= 1.2,
                key,
            )
    scale = servers[GOAL_SERVER].get("scale", {})
    ok_rows = [r for r in scale.values() if r.get("status") == "ok"]
    top = max(ok_rows, key=lambda r: r["n"]) if ok_rows else None
    tried = max((r for r in scale.values()), key=lambda r: r["n"], default=None)
    if tried is not None:
        booted = tried.get("boot", {}).get("booted", 0)
        out.append(
            (
                f"chargers connected + booted on one server process (N={tried['n']})",
                f"{booted}/{tried['n']}",
                ">= 19000",
                verdict(booted >= 19000 if tried["n"] >= 19000 else None),
            )
        )
    if top is not None and "idle" in top:
        kib = top["idle"]["rss_per_charger"] / KIB
        out.append(
            (
                f"server RSS per idle charger (N={top['n']})",
                f"{kib:.1f} KiB",
                "<= 12 KiB",
                verdict(kib <= 12),
            )
        )
    if top is not None and "fanout" in top:
        fo = top["fanout"]
        echo_row = servers.get(ECHO, {}).get("scale", {}).get(str(top["n"]), {})
        efo = echo_row.get("fanout")
        r = fo["time_median_s"] / efo["time_median_s"] if efo and efo["time_median_s"] else None
        add(
            f"fan-out to all N={top['n']}, median time vs Python echo"
            f" ({fo['time_median_s']:.3f} s; all answered: {fo['all_answered']})",
            r,
            "<= 1.5x",
            None if r is None else (fo["all_answered"] and r <= 1.5),
        )
    return out


def info_note(goal_rows: list[tuple[str, str, str, str]]) -> list[str]:
    """The lines saying what an INFO result is, when the goals have one."""
    if not any(result == INFO for _, _, _, result in goal_rows):
        return []
    return [
        "",
        (
            f"{INFO}: one charger across two cores, shown and not judged: its goals are read on "
            "one core (the rows *(one core)*), as #14's own figures were measured. Across two "
            "cores every round trip waits for the hypervisor to wake an idle vCPU, which moves a "
            "round's figures by up to 2x."
        ),
    ]


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    servers = results["servers"]
    label = {k: v["label"] for k, v in servers.items()}
    lines = [
        f"# Load harness: {results['profile']['name']} profile ({results['started']})",
        "",
        (
            f"Machine: {m['cpu_model']}, {m['cores']} cores, Linux {m['kernel']}, Python {m['python']}; "
            f"fd limit {m['nofile_limit']}/process; load average {_f(m.get('loadavg_at_start', [None])[0], '.2f')} "
            f"at start, {_f(m.get('loadavg_at_end', [None])[0], '.2f')} at end.  "
        ),
        (
            f"Pinning: server on cores {m['pinning']['server']}, generators + harness on cores "
            f"{m['pinning']['generators+harness']}.  "
        ),
        (
            f"picows {m['picows']}, uvloop {m['uvloop']}, msgspec {m['msgspec']}, ocpp {m['ocpp']}, "
            f"websockets {m['websockets']}. Every process runs on uvloop; picows (echo, ocppfast, "
            f"generator) on {results['profile'].get('picows_transport', 'uvloop')}'s transports.  "
        ),
        (
            "OCPP 1.6 (`ocpp1.6`) for all; the same generator (picows clients, up to "
            f"{results['profile']['per_process']} per process, one outstanding CALL per charger, "
            "Heartbeat/StatusNotification/MeterValues in turn). Server CPU = user+sys of the server "
            "pid over the measured window. Ratios: calls/s (higher is better) and CPU per call (lower "
            "is better) against the raw picows echo server and mobilityhouse in this same run.  "
        ),
        (
            "Rows marked *(one core)*: the generator runs on the server's core. On this kind of VM "
            "waking an idle vCPU costs up to milliseconds, which dominates a lone charger's round "
            "trip across two cores; on one core the round trip is the CPU work of both sides alone. "
            "*busy*: CPU seconds per second of the server process, of all generator processes and of "
            "everything else on the machine (other users' jobs: should be ~0%, else the row is noisy); "
            "where the generators are near 100% their core is the bottleneck and calls/s says more "
            "about the generator than the server (CPU us/call stays a server-only figure)."
        ),
        "",
    ]
    g = goals(results)
    if g:
        lines += [
            "## Goals (#14: ocppfast compiled; #10: compat on picows)",
            "",
            "| goal | measured | target | result |",
            "|---|---|---|---|",
        ]
        lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in g]
        lines += info_note(g)
        rounds = results["profile"].get("small_rounds", 1)
        if rounds > 1:
            lines += [
                "",
                (
                    f"At 1 and 100 chargers each figure is the median of {rounds} interleaved "
                    "rounds (every server in turn, the order reversed every other round"
                    + (
                        ", each round on a new server process and new chargers"
                        if results["profile"].get("small_fresh")
                        else ""
                    )
                    + ") and each ratio the median of the ratios within a round."
                ),
            ]
        lines.append("")

    lines += [
        (
            f"## Steady load ({results['profile']['duration']:g} s measured after "
            f"{results['profile']['warmup']:g} s warm-up)"
        ),
        "",
        (
            "| chargers | server | calls/s | p50 ms | p99 ms | p99.9 ms | server CPU us/call "
            "| calls/s vs echo | CPU/call vs echo | calls/s vs mobilityhouse | busy: server / generators / other |"
        ),
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for n, by_server in steady_rows(results).items():
        echo, peer = by_server.get(ECHO), by_server.get(PEER)
        for name in servers:
            s = by_server.get(name)
            if s is None:
                continue
            lat = s["latency_s"]
            late = s.get("warmup_s", 0) > results["profile"]["warmup"] + 0.5
            note = (
                f" (one round took {s['warmup_s']:.0f} s; measured {s.get('window_s', 0):.0f} s)"
                if late
                else ""
            )
            lines.append(
                f"| {steady_label(n)} | {label[name]}{note} | {s['calls_per_s']:,.0f} | {_f(lat['p50'] and lat['p50'] * 1e3, '.3f')} "
                f"| {_f(lat['p99'] and lat['p99'] * 1e3, '.3f')} | {_f(lat['p999'] and lat['p999'] * 1e3, '.3f')} "
                f"| {_f(s['server_cpu_us_per_call'], '.1f')} "
                f"| {_ratio(s['calls_per_s'], echo and echo['calls_per_s'])} "
                f"| {_ratio(s['server_cpu_us_per_call'], echo and echo['server_cpu_us_per_call'])} "
                f"| {_ratio(s['calls_per_s'], peer and peer['calls_per_s'])} "
                f"| {s.get('server_core_busy', 0):.0%} / {s.get('generator_core_busy', 0):.0%} "
                f"/ {s.get('other_busy', 0):.0%} |"
            )
    for name, entry in servers.items():  # steady runs that did not happen
        small = entry.get("steady_small", {})
        if "error" in small:
            lines.append(f"\n{label[name]}: steady runs failed: {small['error']}")
        for n, s in small.items():
            if isinstance(s, dict) and s.get("status") == "stopped":
                lines.append(f"\n{label[name]} at {n} chargers: stopped: {s['reason']}")
    lines += [
        "",
        "## Connect + BootNotification, idle hold, fan-out (a fresh server per N)",
        "",
        (
            "| N | server | booted | time to all booted s | boots/s | CPU us/boot | RSS/idle charger KiB "
            "| fan-out all answered: median / max s | fan-out CPU us/call: server / generators "
            "| boots/s vs echo "
            "| RSS vs echo | status |"
        ),
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    ns = sorted({int(n) for e in servers.values() for n in e.get("scale", {})})
    for n in ns:
        echo = servers.get(ECHO, {}).get("scale", {}).get(str(n), {})
        for name, entry in servers.items():
            row = entry.get("scale", {}).get(str(n))
            if row is None:
                continue
            if "boot" not in row:
                lines.append(
                    f"| {n} | {label[name]} | - | - | - | - | - | - | - | - | - "
                    f"| {row['status']}: {row.get('reason', '')} |"
                )
                continue
            b, idle, fo = row["boot"], row.get("idle"), row.get("fanout")
            rss = idle and idle["rss_per_charger"] / KIB
            echo_rss = echo.get("idle") and echo["idle"]["rss_per_charger"] / KIB
            fo_s = "-"
            if fo:
                fo_s = f"{fo['time_median_s']:.3f} / {fo['time_max_s']:.3f}"
                if not fo["all_answered"]:
                    fo_s += " (not all answered)"
            status = row["status"] + (f": {row['reason']}" if row.get("reason") else "")
            lines.append(
                f"| {n} | {label[name]} | {b['booted']}/{n} | {b['time_to_all_booted_s']:.2f} "
                f"| {b['boots_per_s']:,.0f} | {_f(b['server_cpu_us_per_boot'], '.0f')} "
                f"| {_f(rss, '.1f')} | {fo_s} | {_f(fo and fo['server_cpu_us_per_call'], '.1f')} / "
                f"{_f(fo and fo.get('generator_cpu_us_per_call'), '.1f')} "
                f"| {_ratio(b['boots_per_s'], echo.get('boot', {}).get('boots_per_s'))} "
                f"| {_ratio(rss, echo_rss)} | {status} |"
            )
    lines += ["", f"Run time {results.get('elapsed_s', 0):.0f} s."]
    return "\n".join(lines) + "\n"


def chart(results: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    servers = list(results["servers"])
    label = {k: v["label"] for k, v in results["servers"].items()}
    steady = steady_rows(results)
    ns = list(steady)
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    width = 0.8 / max(1, len(servers))

    def bars(
        ax: Any, keys: list[Any], value: Any, title: str, ylabel: str, log: bool = False
    ) -> None:
        for i, name in enumerate(servers):
            ys = [value(k, name) or 0 for k in keys]
            ax.bar([j + i * width for j in range(len(keys))], ys, width, label=label[name])
        ax.set_xticks([j + width * (len(servers) - 1) / 2 for j in range(len(keys))])
        ax.set_xticklabels([steady_label(str(k)) for k in keys])
        ax.set_xlabel("chargers")
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        if log:
            ax.set_yscale("log")

    bars(
        axes[0][0],
        ns,
        lambda n, s: steady[n].get(s, {}).get("calls_per_s"),
        "Steady load throughput",
        "calls/s",
        log=True,
    )
    bars(
        axes[0][1],
        ns,
        lambda n, s: steady[n].get(s, {}).get("server_cpu_us_per_call"),
        "Server CPU per call",
        "us/call",
        log=True,
    )
    scale_ns = sorted({int(n) for e in results["servers"].values() for n in e.get("scale", {})})

    def scale(n: int, s: str, *path: str) -> float | None:
        v: Any = results["servers"][s].get("scale", {}).get(str(n), {})
        for p in path:
            v = v.get(p) if isinstance(v, dict) else None
        return v  # type: ignore[no-any-return]

    bars(
        axes[1][0],
        scale_ns,
        lambda n, s: (scale(n, s, "idle", "rss_per_charger") or 0) / KIB,
        "Server RSS per idle charger",
        "KiB",
    )
    axes[1][0].axhline(12, color="grey", linestyle="--", linewidth=1)
    bars(
        axes[1][1],
        scale_ns,
        lambda n, s: scale(n, s, "fanout", "time_max_s"),
        "Fan-out: time until all answered (max of rounds)",
        "seconds",
        log=True,
    )
    axes[1][1].axhline(1, color="grey", linestyle="--", linewidth=1)
    axes[0][0].legend(fontsize=8)
    m = results["machine"]
    fig.suptitle(
        f"ocppfast load harness ({results['profile']['name']}): {m['cpu_model']}, "
        f"{m['cores']} cores, server pinned to {m['pinning']['server']}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write(results: dict[str, Any], out_dir: str) -> list[str]:
    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, f"load.{ext}") for ext in ("json", "md", "png")]
    with open(paths[0], "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
    with open(paths[1], "w") as f:
        f.write(markdown(results))
    chart(results, paths[2])
    return paths


README_SERVERS = (ECHO_C, ECHO, GOAL_SERVER, PURE, PEER)


def readme_table(results: dict[str, Any]) -> str:
    """The README's table: server CPU per call (us) and calls/s of the compiled and pure builds
    against both echoes and mobilityhouse, per charger count, then the goals."""
    servers = results["servers"]
    shown = [s for s in README_SERVERS if s in servers]
    steady = steady_rows(results)
    head = " | ".join(servers[s]["label"] for s in shown)
    lines = [
        f"| chargers | {head} |",
        "|---:|" + "---:|" * len(shown),
    ]
    for key, by_server in steady.items():
        cells = []
        for name in shown:
            s = by_server.get(name)
            if s is None:
                cells.append("-")
            elif s.get("server_cpu_us_per_call") is None:  # no answer inside the window
                cells.append(f"no answer in {s.get('window_s', 0):.0f} s")
            else:
                cells.append(
                    f"{s['server_cpu_us_per_call']:.1f} us ({s['calls_per_s'] / 1000:,.1f}k/s)"
                )
        lines.append(f"| {steady_label(key)} | " + " | ".join(cells) + " |")
    lines += ["", "| goal | measured | target | result |", "|---|---|---|---|"]
    g = goals(results)
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in g]
    lines += info_note(g)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m benchmarks.load.report [load.json]: the README's table
    import sys

    with open(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/load.json") as f:
        print(readme_table(json.load(f)), end="")
