"""Per-command client CPU: redis-py's asyncio client (with hiredis) against the cluster's own
RESP connection (``ocppfast.cluster._resp``), same redis-server, same run.

``python -m benchmarks.cluster.resp_overhead [--n 5000]``: starts its own redis-server on a unix
socket; prints microseconds of this process' CPU per command, one command at a time (the
latency-bound case of a single remote call) and 100 in flight (pipelined), plus pub/sub receive.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as redis_asyncio
import uvloop

from ocppfast.cluster._resp import RespConnection, parse_redis_url


async def _cpu_per_op(n: int, op: Callable[[], Awaitable[Any]], in_flight: int) -> float:
    c0 = time.process_time()
    for _ in range(n // in_flight):
        if in_flight == 1:
            await op()
        else:
            await asyncio.gather(*(op() for _ in range(in_flight)))
    return (time.process_time() - c0) / n * 1e6


async def measure(sock: str, n: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    rp = redis_asyncio.Redis(unix_socket_path=sock)
    await rp.ping()
    ours = await RespConnection.open(parse_redis_url(f"unix://{sock}"))
    payload = b"x" * 200
    for name, a, b in [
        ("GET", lambda: rp.get("k"), lambda: ours.command("GET", "k")),
        (
            "PUBLISH",
            lambda: rp.publish("ch", payload),
            lambda: ours.command("PUBLISH", "ch", payload),
        ),
    ]:
        for in_flight in (1, 100):
            key = f"{name} x{in_flight}"
            out[key] = {
                "redis-py": round(await _cpu_per_op(n, a, in_flight), 1),
                "ocppfast._resp": round(await _cpu_per_op(n, b, in_flight), 1),
            }
    # pub/sub receive: a burst of messages published by the other client
    ps = rp.pubsub()
    await ps.subscribe("rx")
    await ps.get_message(timeout=1)
    got = 0

    async def reader() -> None:
        nonlocal got
        while got < n:
            if await ps.get_message(timeout=None):
                got += 1

    c0 = time.process_time()
    task = asyncio.ensure_future(reader())
    for _ in range(n):
        ours.send_only("PUBLISH", "rx", payload)
    await task
    rx_redis_py = (time.process_time() - c0) / n * 1e6
    sub = await RespConnection.open(parse_redis_url(f"unix://{sock}"))
    done = asyncio.get_running_loop().create_future()
    count = 0

    def on_message(channel: bytes, data: bytes) -> None:
        nonlocal count
        count += 1
        if count == n:
            done.set_result(None)

    sub.on_message = on_message
    await sub.command("SUBSCRIBE", "rx2")
    c0 = time.process_time()
    for _ in range(n):
        ours.send_only("PUBLISH", "rx2", payload)
    await done
    rx_ours = (time.process_time() - c0) / n * 1e6
    out["pub/sub receive (publish included)"] = {
        "redis-py": round(rx_redis_py, 1),
        "ocppfast._resp": round(rx_ours, 1),
    }
    await rp.aclose()
    ours.close()
    sub.close()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=5000, help="commands per measurement")
    args = p.parse_args()
    exe = shutil.which("redis-server")
    if exe is None:
        raise SystemExit("redis-server not found")
    d = tempfile.mkdtemp()
    sock = os.path.join(d, "r.sock")
    proc = subprocess.Popen(
        [exe, "--port", "0", "--unixsocket", sock, "--save", "", "--dir", d],
        stdout=subprocess.DEVNULL,
    )
    try:
        while not os.path.exists(sock):
            time.sleep(0.02)
        result = uvloop.run(measure(sock, args.n))
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(d, ignore_errors=True)
    print("client CPU per command, microseconds (this process only):")
    for k, v in result.items():
        ratio = v["redis-py"] / v["ocppfast._resp"] if v["ocppfast._resp"] else float("nan")
        print(
            f"  {k:38s} redis-py {v['redis-py']:7.1f}   ocppfast._resp {v['ocppfast._resp']:6.1f}"
            f"   ({ratio:.1f}x)"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
