"""The answer path users write: cached reply vs ``ocppfast.now()`` per call, and MeterValues.

``python benchmarks/bench_answer_path.py [--quick]`` (``make answer-path``; without ``--quick``
it also writes ``benchmarks/results/answer_path.md``)

One incoming CALL -> typed reply per iteration through ``ChargePoint.receive`` (OCPP 1.6, sync
handler, outgoing and incoming checks on, a transport that drops the bytes), CPU time per call
(``time.process_time``), compiled and pure each in its own subprocess. Cases, interleaved round by
round (median of the rounds), reported as ratios to the first one measured in the same run:

- ``Heartbeat, cached reply``: the handler returns one prebuilt ``HeartbeatResponse``;
- ``Heartbeat, now()``: ``HeartbeatResponse(current_time=ocppfast.now())`` per call (``now()``
  changes once a millisecond, so in this loop most replies equal the last checked one);
- ``Heartbeat, new time every call``: a different valid time string on every call, so the reply's
  date-time check runs on every call (the worst case: one call per millisecond or fewer);
- ``MeterValues x10, ...``: an incoming MeterValues with 10 sampled values and a different
  timestamp in every frame, answered with a cached ``MeterValuesResponse``: once with the
  generated types, once with the same types with a plain ``str`` for the date-time (no check at
  all: the floor), and once with msgspec's regex (what the generated types did before the scan).

The date-time check is the only difference between the last three, and between the Heartbeat
rows the handler's work and the reply check. Goal (issue 14): per-call time within 1.2x of the
cached / unchecked case.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import typing
from pathlib import Path
from typing import Annotated, Any

import msgspec

ROOT = Path(__file__).resolve().parent.parent
HEARTBEAT = b'[2,"123456","Heartbeat",{}]'
RING = 1024  # distinct time strings / frames, cycled


def _stamps() -> list[str]:
    return [f"2026-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}.{i:03d}Z" for i in range(RING)]


def _meter_frames() -> list[bytes]:
    sampled = [
        {"value": f"{1000 + k}.5", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
        for k in range(10)
    ]
    return [
        json.dumps(
            [2, f"m{i}", "MeterValues",
             {"connectorId": 1, "transactionId": 7,
              "meterValue": [{"timestamp": stamp, "sampledValue": sampled}]}],
            separators=(",", ":"),
        ).encode()
        for i, stamp in enumerate(_stamps())
    ]  # fmt: skip


def _twin(tp: Any, date_time: Any, seen: dict[Any, Any]) -> Any:
    """``tp`` with every generated DateTime replaced by ``date_time`` (Structs rebuilt)."""
    from ocppfast.v16 import DateTime

    if tp == DateTime:
        return date_time
    origin = typing.get_origin(tp)
    if origin is Annotated:
        base, *metas = typing.get_args(tp)
        return Annotated[(_twin(base, date_time, seen), *metas)]  # type: ignore[valid-type]
    if origin is list:
        return list[_twin(typing.get_args(tp)[0], date_time, seen)]  # type: ignore[misc]
    if origin is not None:
        args = tuple(_twin(a, date_time, seen) for a in typing.get_args(tp))
        return typing.Union[args]  # noqa: UP007
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        if tp not in seen:
            config = tp.__struct_config__
            fields = [
                (
                    f.name,
                    _twin(f.type, date_time, seen),
                    msgspec.field(default=f.default, name=f.encode_name),
                )
                if not f.required
                else (f.name, _twin(f.type, date_time, seen), msgspec.field(name=f.encode_name))
                for f in msgspec.structs.fields(tp)
            ]
            seen[tp] = msgspec.defstruct(
                tp.__name__, fields, kw_only=True, omit_defaults=True,
                forbid_unknown_fields=config.forbid_unknown_fields,
            )  # fmt: skip
        return seen[tp]
    return tp


async def _measure(quick: bool) -> dict[str, Any]:
    import ocppfast
    from ocppfast import versions
    from ocppfast.actions import make_action
    from ocppfast.charge_point import ChargePoint
    from ocppfast.v16 import HeartbeatResponse, MeterValuesRequest, MeterValuesResponse
    from ocppfast.v16.datatypes import RFC3339_PATTERN

    class Drop:
        def send(self, msg_type: int, data: bytes) -> None:
            pass

    loop = asyncio.get_running_loop()
    stamps = _stamps()
    frames = _meter_frames()
    cached = HeartbeatResponse(current_time="2026-01-01T00:00:00.000Z")
    meter_answer = MeterValuesResponse()

    def connection(request_type: Any = None) -> Any:
        actions = dict(versions.actions("ocpp1.6"))
        if request_type is not None:
            base = actions["MeterValues"]
            actions["MeterValues"] = make_action(
                "MeterValues", request_type, base.response, base.sender
            )
        cp = ChargePoint(loop, "ocpp1.6", actions, identity="X")
        cp.attach(Drop())
        cp.on("MeterValues", lambda req: meter_answer)
        return cp

    now = ocppfast.now
    cycle = iter(range(1 << 62))

    hb_cached = connection()
    hb_cached.on("Heartbeat", lambda req: cached)
    hb_now = connection()
    hb_now.on("Heartbeat", lambda req: HeartbeatResponse(current_time=now()))
    hb_fresh = connection()
    hb_fresh.on("Heartbeat", lambda req: HeartbeatResponse(current_time=stamps[next(cycle) % RING]))
    plain = _twin(MeterValuesRequest, str, {})
    regex = _twin(MeterValuesRequest, Annotated[str, msgspec.Meta(pattern=RFC3339_PATTERN)], {})
    cases: dict[str, tuple[Any, list[bytes]]] = {
        "Heartbeat, cached reply": (hb_cached, [HEARTBEAT]),
        "Heartbeat, now()": (hb_now, [HEARTBEAT]),
        "Heartbeat, new time every call": (hb_fresh, [HEARTBEAT]),
        "MeterValues x10, date-time unchecked (floor)": (connection(plain), frames),
        "MeterValues x10, generated check": (connection(), frames),
        "MeterValues x10, regex check (before)": (connection(regex), frames),
    }
    n = 5_000 if quick else 20_000
    rounds = 3 if quick else 9
    per_call: dict[str, list[float]] = {case: [] for case in cases}
    for r in range(rounds):
        order = list(cases) if r % 2 == 0 else list(reversed(cases))
        for case in order:
            cp, data = cases[case]
            k = len(data)
            receive = cp.receive
            t = time.process_time()
            for i in range(n):
                receive(data[i % k])
            per_call[case].append((time.process_time() - t) / n)
    return {
        "compiled": ocppfast.implementation == "cython",
        "ns": {case: statistics.median(v) * 1e9 for case, v in per_call.items()},
    }


BASES = {
    "Heartbeat, now()": "Heartbeat, cached reply",
    "Heartbeat, new time every call": "Heartbeat, cached reply",
    "MeterValues x10, generated check": "MeterValues x10, date-time unchecked (floor)",
    "MeterValues x10, regex check (before)": "MeterValues x10, date-time unchecked (floor)",
}


def run(quick: bool = False) -> dict[str, Any]:
    results: dict[str, Any] = {}
    base = {k: v for k, v in os.environ.items() if k != "OCPPFAST_NO_EXTENSIONS"}
    for mode, env in (("compiled", {}), ("pure", {"OCPPFAST_NO_EXTENSIONS": "1"})):
        proc = subprocess.run(
            [sys.executable, __file__, "--child", *(["--quick"] if quick else [])],
            env={**base, **env, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            check=True,
        )
        results[mode] = json.loads(proc.stdout)
    return results


def report(results: dict[str, Any]) -> str:
    lines = []
    if not results["compiled"]["compiled"] or results["pure"]["compiled"]:
        lines.append("warning: the compiled run did not load the compiled modules (build first)\n")
    lines.append("| case | compiled ns/call | x base | pure ns/call | x base | pure/compiled |")
    lines.append("|---|---:|---:|---:|---:|---:|")
    c, p = results["compiled"]["ns"], results["pure"]["ns"]
    for case in c:
        base = BASES.get(case)
        cx = f"{c[case] / c[base]:.2f}x" if base else "1.00x"
        px = f"{p[case] / p[base]:.2f}x" if base else "1.00x"
        lines.append(
            f"| {case} | {c[case]:.0f} | {cx} | {p[case]:.0f} | {px} | {p[case] / c[case]:.2f}x |"
        )
    return "\n".join(lines)


def main() -> int:
    quick = "--quick" in sys.argv
    if "--child" in sys.argv:
        import uvloop

        print(json.dumps(uvloop.run(_measure(quick))))
        return 0
    text = report(run(quick))
    print(text)
    if not quick:  # the figures of record: benchmarks/results/answer_path.md
        command = "python benchmarks/bench_answer_path.py"
        (ROOT / "benchmarks" / "results" / "answer_path.md").write_text(
            f"# Answer path: cached reply vs ocppfast.now() vs MeterValues date-times\n\n"
            f"`{command}` (`make answer-path`): CPU per call through `ChargePoint.receive`, "
            "medians of 9 interleaved rounds of 20,000 calls.\n\n" + text + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
