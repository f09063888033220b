"""Compiled vs pure engine, timed directly: ``python benchmarks/engine_loop.py``.

One incoming CALL -> typed reply per iteration (Heartbeat and BootNotification, OCPP 1.6, sync
handler, a transport that drops the bytes), with and without checking outgoing payloads. Each
implementation runs in its own subprocess (``OCPPFAST_NO_EXTENSIONS=1`` for pure); the figure is
the best of 7 runs of 50,000 calls (``time.perf_counter``), so other load on the machine inflates
it less than a mean would. Prints ns per call and the compiled/pure ratio.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CASES = {
    "Heartbeat": b'[2,"123456","Heartbeat",{}]',
    "BootNotification": b'[2,"123456","BootNotification",'
    b'{"chargePointVendor":"VendorX","chargePointModel":"SingleSocketCharger"}]',
}


class _DropTransport:
    def send(self, msg_type: int, data: bytes) -> None:
        pass


async def _measure() -> dict[str, float]:
    import ocppfast
    from ocppfast import versions
    from ocppfast.charge_point import ChargePoint
    from ocppfast.v16 import BootNotificationResponse, HeartbeatResponse, RegistrationStatus

    loop = asyncio.get_running_loop()
    out: dict[str, float] = {"compiled": ocppfast.implementation == "cython"}  # type: ignore[dict-item]
    now = "2026-01-01T00:00:00Z"
    answers: dict[str, Any] = {
        "Heartbeat": HeartbeatResponse(current_time=now),
        "BootNotification": BootNotificationResponse(
            status=RegistrationStatus.accepted, current_time=now, interval=300
        ),
    }
    for validate in (True, False):
        cp = ChargePoint(
            loop, "ocpp1.6", versions.actions("ocpp1.6"), identity="X", validate_outgoing=validate
        )
        cp.attach(_DropTransport())
        for action, answer in answers.items():
            cp.on(action, lambda req, answer=answer: answer)
        for action, frame in CASES.items():
            best = float("inf")
            for _ in range(7):
                n = 50_000
                t = time.perf_counter()
                for _ in range(n):
                    cp.receive(frame)
                best = min(best, (time.perf_counter() - t) / n)
            out[f"{action}, {'checked' if validate else 'unchecked'} reply"] = best * 1e9
    return out


def main() -> int:
    if "--child" in sys.argv:
        import uvloop

        print(json.dumps(uvloop.run(_measure())))
        return 0
    results = {}
    for mode, env in (("compiled", {}), ("pure", {"OCPPFAST_NO_EXTENSIONS": "1"})):
        proc = subprocess.run(
            [sys.executable, __file__, "--child"],
            env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            check=True,
        )
        results[mode] = json.loads(proc.stdout)
    if not results["compiled"].pop("compiled") or results["pure"].pop("compiled"):
        print("warning: the compiled run did not load the compiled modules (build first)")
    print("| incoming CALL -> reply | compiled ns | pure ns | compiled/pure |")
    print("|---|---:|---:|---:|")
    for case, ns in results["compiled"].items():
        pure = results["pure"][case]
        print(f"| {case} | {ns:.0f} | {pure:.0f} | {pure / ns:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
