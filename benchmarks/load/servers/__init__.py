"""The central systems under test, each a process run as ``python -m <module> --port P``.

Every launcher speaks the same control channel (``benchmarks.load.control``): on start it prints
``{"ready": true, "port": P, ...}``, then answers ``count`` (connected chargers), ``fanout`` (call
every connected charger at once with TriggerMessage and report the time until all answered) and
``quit``. Handlers are the minimal set the load needs: BootNotification, Heartbeat,
StatusNotification, MeterValues.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ServerKind:
    name: str
    module: str
    label: str
    env: dict[str, str] = field(default_factory=dict)
    # False: only when asked for by name (``--servers``), not in the load harness' default set
    default: bool = True
    # Largest N of the scale runs (boot, idle, fan-out, steady at N) for a server that is only a
    # point of comparison at small N; None: every N of the profile.
    scale_cap: int | None = None
    scale_cap_reason: str = ""


SERVERS: dict[str, ServerKind] = {
    s.name: s
    for s in (
        ServerKind("ocppfast", "benchmarks.load.servers.ocppfast_cs", "ocppfast (compiled)"),
        ServerKind(
            "ocppfast-pure",
            "benchmarks.load.servers.ocppfast_cs",
            "ocppfast (pure Python)",
            {"OCPPFAST_NO_EXTENSIONS": "1"},
        ),
        ServerKind(
            "ocppfast-stamped",
            "benchmarks.load.servers.ocppfast_cs",
            "ocppfast (compiled), a new datetime.isoformat() timestamp in every answer",
            {"BENCH_PER_CALL_TIME": "1"},
        ),
        ServerKind(
            "ocppfast-cached",
            "benchmarks.load.servers.ocppfast_cs",
            "ocppfast (compiled), answers built once (the time never changes)",
            {"BENCH_CACHED_REPLY": "1"},
            # the reference of #14's answer-path goal (ocppfast's now() per call against it) at
            # 1, 100 and 1,000 chargers; beyond that it would repeat ocppfast's rows
            scale_cap=1000,
            scale_cap_reason="a reference for the answer path only (now() vs answers built once)",
        ),
        ServerKind(
            "mobilityhouse",
            "benchmarks.load.servers.mobilityhouse",
            "mobilityhouse ocpp 2.1.0 + websockets",
        ),
        ServerKind(
            "compat-websockets",
            "benchmarks.load.servers.mobilityhouse",
            "the same mobilityhouse code on ocppfast.compat + websockets",
            {"BENCH_COMPAT": "1"},
        ),
        ServerKind(
            "compat-picows",
            "benchmarks.load.servers.compat_picows",
            "the same mobilityhouse code on ocppfast.compat.serve (picows)",
        ),
        ServerKind("echo", "benchmarks.load.servers.echo", "raw picows echo (transport limit)"),
        ServerKind(
            "echo-c", "benchmarks.load.servers.echo_c", "picows echo, C listener (the floor)"
        ),
    )
}
