"""The cluster benchmark's figures as markdown and a PNG chart."""

from __future__ import annotations

import json
import os
from typing import Any

GOALS = {
    "fanout_s": 3.0,
    "added_cpu_us": 150.0,
    "added_p50_ms": 1.0,
    "kib_per_station": 11.0,
}


def markdown(r: dict[str, Any], command: str) -> str:
    o = r["options"]
    m = r["machine"]
    lines = [
        f"# Cluster benchmark: {o['stations']:,} stations across {o['workers']} workers",
        "",
        f"Command: `{command}`  ",
        (
            f"Machine: {m['cpu_model']}, {m['cores']} cores, Python {m['python']}, "
            f"ocppfast {r['implementation']}, Redis {r.get('redis_version')} (unix socket); "
            "everything on this one machine, no pinning."
        ),
        "",
    ]
    b = r.get("boot", {})
    lines += [
        "## Boot",
        "",
        (
            f"{b.get('booted', 0):,} of {b.get('requested', 0):,} booted in "
            f"{b.get('time_to_all_booted_s')} s; all claimed in Redis {b.get('all_claimed_after_s')} s "
            f"after the first connect. Errors: {b.get('errors') or 'none'}."
        ),
        "",
    ]
    mem = r.get("memory", {})
    lines += [
        "## Memory",
        "",
        "| worker | stations | RSS MiB | KiB/station | KiB/station above idle |",
        "|---|---|---|---|---|",
    ]
    for w in mem.get("workers", []):
        lines.append(
            f"| {w['worker']} | {w['stations']:,} | {w['rss_mib']} | {w['kib_per_station']} | "
            f"{w['kib_per_station_above_idle']} |"
        )
    lines += [
        "",
        (
            f"Redis: {mem.get('redis_used_memory_mib')} MiB used; "
            f"{mem.get('redis_bytes_per_station')} bytes per station (used_memory delta), "
            f"presence hash {mem.get('presence_hash_bytes_per_station')} bytes per station "
            "(MEMORY USAGE)."
        ),
        "",
        "## Fan-out to every station (`Cluster.call_many`, one message per node)",
        "",
        "| round | stations | answered | seconds | caller CPU s | workers CPU s | redis CPU s |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in r.get("fanout", []):
        lines.append(
            f"| {f['round']} | {f['stations']:,} | {f['answered']:,} | {f['seconds']} | "
            f"{f['caller_cpu_s']} | {f['workers_cpu_s']} | {f['redis_cpu_s']} |"
        )
    lat = r.get("latency", {})
    if lat:
        lo, re_ = lat["local"], lat["remote"]
        lines += [
            "",
            "## Round trip: local vs routed (sequential calls from one caller node)",
            "",
            (
                f"{lat.get('rounds', 1)} rounds of {lat.get('calls_per_block', lo['calls'])} "
                "local then routed calls (order alternating); CPU from each process's schedstat "
                "around each block, medians over rounds."
            ),
            "",
            "| call | p50 ms | p99 ms | caller CPU us | owner CPU us | redis CPU us |",
            "|---|---|---|---|---|---|",
            (
                f"| local (station on the caller) | {lo['p50_ms']} | {lo['p99_ms']} | "
                f"{lo['caller_cpu_us']} | - | {lo['redis_cpu_us']} |"
            ),
            (
                f"| remote (station on a worker) | {re_['p50_ms']} | {re_['p99_ms']} | "
                f"{re_['caller_cpu_us']} | {re_['owner_cpu_us']} | {re_['redis_cpu_us']} |"
            ),
            "",
            (
                f"Added by routing: p50 +{lat['added_p50_ms']} ms; CPU "
                f"{lat['added_cpu_us_total']} us per call in total (caller + owner + redis-server, "
                "minus the local call's cost, which the owner pays in its place; median of the "
                "rounds' figures"
                + (
                    f": {', '.join(str(x) for x in lat['added_cpu_us_rounds'])})."
                    if lat.get("added_cpu_us_rounds")
                    else ")."
                )
            ),
        ]
    conc = r.get("concurrent")
    if conc:
        lo, re_ = conc["local"], conc["remote"]
        lines += [
            "",
            f"## Under load: {lo['stations']} stations per side, calls back to back",
            "",
            "| calls | calls/s | caller CPU us | owners CPU us | redis CPU us |",
            "|---|---|---|---|---|",
            f"| local | {lo['calls_per_s']:,} | {lo['caller_cpu_us']} | - | {lo['redis_cpu_us']} |",
            (
                f"| remote | {re_['calls_per_s']:,} | {re_['caller_cpu_us']} | {re_['owner_cpu_us']} | "
                f"{re_['redis_cpu_us']} |"
            ),
            "",
            (
                f"Added by routing under load: {conc['added_cpu_us_total']} us of CPU per call in "
                "total (caller + owners + redis-server, minus the local call)."
            ),
        ]
    fo = r.get("failover")
    if fo:
        lines += [
            "",
            "## Failover (SIGKILL of the worker holding a station)",
            "",
            (
                f"{fo['stations_on_killed_worker']} of {fo['reconnecting_stations']} reconnecting "
                f"stations were on the killed worker. Calls to them failed fast after "
                f"{fo['fail_fast_s']} s ({fo['fail_fast_error']}); every one answered again "
                f"{fo['all_answer_again_s']} s after the kill (the supervisor restarts the worker, "
                f"the stations reconnect with 0.1-0.4 s backoff); the dead node's entries were gone "
                f"{fo['dead_node_removed_s']} s after the kill (lease {fo['lease_ttl_s']} s)."
            ),
        ]
    lines += ["", "## Goals (issue 11)", "", "| goal | measured | target |", "|---|---|---|"]
    for row in goals(r):
        lines.append(f"| {row[0]} | {row[1]} | {row[2]} |")
    return "\n".join(lines) + "\n"


def goals(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows = []
    if r.get("fanout"):
        best = min(f["seconds"] for f in r["fanout"])
        ok = all(f["answered"] == f["stations"] for f in r["fanout"])
        rows.append(
            (
                f"fan-out to all {r['fanout'][0]['stations']:,} answered",
                f"{best} s (best of {len(r['fanout'])}; all answered: {ok})",
                "< 3 s",
            )
        )
    lat = r.get("latency")
    if lat:
        rows.append(
            (
                "remote call CPU overhead, total, one call at a time",
                f"{lat['added_cpu_us_total']} us",
                "< 150 us",
            )
        )
        rows.append(("remote call added p50 latency", f"{lat['added_p50_ms']} ms", "< 1 ms"))
    conc = r.get("concurrent")
    if conc:
        rows.append(
            (
                "remote call CPU overhead, total, under load",
                f"{conc['added_cpu_us_total']} us",
                "< 150 us",
            )
        )
    mem = r.get("memory")
    if mem:
        above = max((w["kib_per_station_above_idle"] or 0) for w in mem["workers"])
        total = max((w["kib_per_station"] or 0) for w in mem["workers"])
        rows.append(
            (
                "worker RSS per station above the idle worker (as benchmarks/load), worst worker",
                f"{above} KiB (whole RSS / stations: {total} KiB)",
                "<= 11 KiB",
            )
        )
    return rows


def chart(r: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    lat = r.get("latency")
    if lat:
        ax = axes[0]
        names = ["local", "remote"]
        ax.bar([n + " p50" for n in names], [lat[n]["p50_ms"] for n in names], color="#4c72b0")
        ax.bar([n + " p99" for n in names], [lat[n]["p99_ms"] for n in names], color="#dd8452")
        ax.set_ylabel("ms")
        ax.set_title("round trip")
        ax = axes[1]
        parts = ["caller_cpu_us", "owner_cpu_us", "redis_cpu_us"]
        bottom = 0.0
        for part, color in zip(parts, ["#4c72b0", "#55a868", "#c44e52"]):
            v = lat["remote"][part]
            ax.bar(
                ["remote call"],
                [v],
                bottom=[bottom],
                label=part.replace("_cpu_us", ""),
                color=color,
            )
            bottom += v
        ax.bar(["local call"], [lat["local"]["caller_cpu_us"]], color="#4c72b0")
        ax.set_ylabel("CPU us per call")
        ax.set_title("CPU per call")
        ax.legend()
    if r.get("fanout"):
        ax = axes[2]
        ax.bar([str(f["round"]) for f in r["fanout"]], [f["seconds"] for f in r["fanout"]])
        ax.axhline(3.0, color="red", linestyle="--", label="goal 3 s")
        ax.set_xlabel("round")
        ax.set_ylabel("seconds")
        ax.set_title(f"fan-out to {r['fanout'][0]['stations']:,} stations")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def routed_markdown(r: dict[str, Any], command: str, machine: dict[str, Any]) -> str:
    """``benchmarks.cluster.routed``: the one-call-at-a-time CPU figure on its own."""
    lo, re_ = r["local"], r["remote"]
    return "\n".join(
        [
            "# Routed call CPU, one call at a time",
            "",
            f"Command: `{command}`  ",
            (
                f"Machine: {machine['cpu_model']}, {machine['cores']} cores (shared with other "
                f"jobs), Python {machine['python']}, ocppfast {r['implementation']}, Redis "
                f"{r['redis_version']} (unix socket); one worker (the owner), this process (the "
                "caller), a process of stations; no pinning."
            ),
            "",
            (
                f"{r['rounds']} rounds of {r['calls_per_block']} local then routed calls (order "
                "alternating); CPU from each process's schedstat around each block; medians over "
                "rounds."
            ),
            "",
            "| call | p50 ms | p99 ms | caller CPU us | owner CPU us | redis CPU us |",
            "|---|---|---|---|---|---|",
            (
                f"| local | {lo['p50_ms']} | {lo['p99_ms']} | {lo['caller_cpu_us']} | - | "
                f"{lo['redis_cpu_us']} |"
            ),
            (
                f"| routed | {re_['p50_ms']} | {re_['p99_ms']} | {re_['caller_cpu_us']} | "
                f"{re_['owner_cpu_us']} | {re_['redis_cpu_us']} |"
            ),
            "",
            (
                f"Added by routing: **{r['added_cpu_us_total']} us** of CPU per call (caller + "
                "owner + redis-server - local caller; median of the rounds: "
                f"{', '.join(str(x) for x in r['added_cpu_us_rounds'])}), p50 "
                f"+{r['added_p50_ms']} ms. Goal: < {GOALS['added_cpu_us']:.0f} us, "
                f"< {GOALS['added_p50_ms']:.0f} ms."
            ),
            "",
        ]
    )


def write(r: dict[str, Any], out_dir: str, name: str, command: str) -> list[str]:
    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, f"{name}.{ext}") for ext in ("json", "md", "png")]
    with open(paths[0], "w") as f:
        json.dump(r, f, indent=2)
    with open(paths[1], "w") as f:
        f.write(markdown(r, command))
    chart(r, paths[2])
    return paths
