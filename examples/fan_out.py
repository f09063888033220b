"""Fan-out: one CALL to many stations at once with ``cs.call_many``.

The result maps each identity to its response, or to the exception its call raised (a
CALLERROR, a timeout, not connected): one station's failure does not hide the others' answers.
A dict payload in wire names (camelCase) is converted for each station's version; it is encoded
and checked once per version, not once per station. TriggerMessage has the same shape in 1.6 and
2.0.1, so one dict serves both.

The example runs by itself: a central system on a free loopback port and ``--stations`` stations
(every other one 1.6, the rest 2.0.1; every tenth one has no TriggerMessage handler and answers
NotSupported).

    python examples/fan_out.py --stations 100
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from typing import Any

import ocppfast

cs = ocppfast.CentralSystem(versions=["ocpp2.0.1", "ocpp1.6"])


def accept(req: Any) -> dict[str, Any]:
    return {"status": "Accepted"}


async def main(n: int) -> None:
    async with cs:
        await cs.start("127.0.0.1", 0)
        url = f"ws://127.0.0.1:{cs.port}"
        stations = [
            await ocppfast.connect(
                url,
                f"CP-{i:03d}",
                versions=["ocpp1.6" if i % 2 else "ocpp2.0.1"],
                handlers={} if i % 10 == 0 else {"TriggerMessage": accept},
            )
            for i in range(n)
        ]
        while len(cs.charge_points) < n:  # the server registers each station as it connects
            await asyncio.sleep(0.01)

        start = time.perf_counter()
        results = await cs.call_many("TriggerMessage", {"requestedMessage": "Heartbeat"})
        ms = (time.perf_counter() - start) * 1000
        outcomes = Counter(
            type(r).__name__ if isinstance(r, Exception) else str(r.status)
            for r in results.values()
        )
        print(f"TriggerMessage to {len(results)} stations in {ms:.1f} ms: {dict(outcomes)}")

        some = [f"CP-{i:03d}" for i in (1, 2, 3)] + ["CP-999"]  # a subset; CP-999 is not here
        subset = await cs.call_many(
            "TriggerMessage", {"requestedMessage": "StatusNotification"}, identities=some
        )
        for identity, result in subset.items():
            outcome = repr(result) if isinstance(result, Exception) else result.status
            print(f"{identity}: {outcome}")

        for station in stations:
            await station.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stations", type=int, default=50)
    asyncio.run(main(parser.parse_args().stations))
