"""A process of reconnecting ocppfast stations for the cluster benchmark (failover, latency).

Unlike the load generator's lean chargers these are full ``ocppfast.connect`` stations with
``reconnect=True``: after a worker is killed they come back (to whichever worker the kernel
picks), which is what the failover figure measures. Driven over ``benchmarks.load.control``.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import ocppfast
from benchmarks.load.control import run_child, serve_commands
from benchmarks.load.generator import source_address


class Stations:
    def __init__(self) -> None:
        self.cps: list[Any] = []

    async def connect(self, cmd: dict[str, Any]) -> dict[str, Any]:
        url, prefix, count = cmd["url"], cmd["prefix"], cmd["count"]
        sem = asyncio.Semaphore(cmd.get("concurrency", 64))
        failed = 0

        async def one(i: int) -> None:
            nonlocal failed
            async with sem:
                try:
                    cp = await ocppfast.connect(
                        url,
                        f"{prefix}{i:05d}",
                        versions=["ocpp1.6"],
                        reconnect=True,
                        backoff_min=cmd.get("backoff_min", 0.1),
                        backoff_random=cmd.get("backoff_random", 0.3),
                        ping_interval=0,
                        local_addr=(source_address(i + 7), 0),
                    )
                except Exception:  # noqa: BLE001 - counted
                    failed += 1
                    return
                cp.on("Reset", lambda req: {"status": "Accepted"})
                cp.on("TriggerMessage", lambda req: {"status": "Accepted"})
                self.cps.append(cp)

        await asyncio.gather(*(one(i) for i in range(count)))
        return {"connected": count - failed, "failed": failed}

    async def status(self, cmd: dict[str, Any]) -> dict[str, Any]:
        return {"open": sum(not cp.closed for cp in self.cps), "total": len(self.cps)}


async def main() -> None:
    st = Stations()

    async def pid(cmd: dict[str, Any]) -> dict[str, Any]:
        return {"pid": os.getpid()}

    await serve_commands({"connect": st.connect, "status": st.status, "pid": pid})


if __name__ == "__main__":
    run_child(main)
