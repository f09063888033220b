"""User-space instructions per Heartbeat round trip, exact (callgrind): ``make callgrind``.

``python benchmarks/bench_callgrind.py [--calls K] [--warmup W] [--servers a,b] [--out FILE]
[--keep DIR] [--workload heartbeat|rotation|status|meter] [--cache-sim [--ll SIZE,ASSOC,LINE]]
[--chargers N]``

Each server runs alone under ``valgrind --tool=callgrind --instr-atstart=no``. One client (this
process, picows, one charger: N=1, OCPP 1.6) boots, makes W warm-up Heartbeat round trips, then
``callgrind_control -i on`` switches instrumentation on, the client makes exactly K round trips
(one outstanding at a time), ``callgrind_control -i off`` switches it off, and the server is
stopped; the dump's total ``Ir`` (every instruction the server process ran in user space while
switched on) divided by K is the figure. The window holds K requests read, handled and answered,
and the server's idle waiting between them (the same for every server). Servers:

- ``echo-c``: picows echo with a C-level listener (``benchmarks/load/servers/echo_c.py``): the
  floor (picows + uvloop + the kernel interface, no Python code per frame);
- ``echo``: the Python picows echo (``benchmarks/load/servers/echo.py``);
- ``serve``: ``python -m ocppfast serve`` compiled; ``serve-pure``: the same with
  ``OCPPFAST_NO_EXTENSIONS=1``;
- ``load``: the load harness's ocppfast server (``benchmarks/load/servers/ocppfast_cs.py``,
  handlers answering with ``ocppfast.now()``), compiled; ``load-stamped``: the same answering
  with ``datetime.now(UTC).isoformat()``, a new timestamp (and reply check) on every call.

``--workload`` picks the CALLs the charger sends: ``heartbeat`` (the default), ``rotation`` (the
load harness's steady workload: Heartbeat, StatusNotification and MeterValues in turn, from
``benchmarks/load/frames.py``), or one of its other actions alone (``status``, ``meter``).
``--cache-sim`` adds callgrind's cache simulation: first-level instruction-cache misses (I1) and
last-level misses (LL, instructions and data) per call, the part of the cost the instruction count
does not show (a run takes about twice as long). callgrind models two levels, and its last level
is the machine's largest cache unless ``--ll`` says otherwise: ``--ll 1048576,16,64`` models a
1 MiB L2 per core (this VM's when the figures below were taken; ``lscpu`` shows the one at hand)
instead of the 32 MiB L3.

``--chargers N`` opens N connections, each with one CALL outstanding (the window still holds
exactly K round trips: no CALL is sent past the K-th). With ``--cache-sim --ll`` it shows whether
the state a server touches per connection falls out of the cache as connections grow (misses per
call at N=1,000 against N=100). Measured with the load generator instead (2026-11-27, rotation,
1 MiB modelled): the compiled load server 33 misses per call at 1,000 connections against the
Python echo's 27, and below 1 for both at 100; instructions per call the same at both N. With the
engine's per-frame fields first in its C struct: 31 against 28.

Writes ``benchmarks/results/callgrind.md`` (and ``.json``) for the default workload without
``--cache-sim``, else ``callgrind-<workload>[-cache][-n<N>].md``. Takes 10-20 s per server at
N=1, about a minute at N=1,000 (the connections' handshakes under valgrind).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: benchmarks.load.frames importable

from benchmarks.load import frames as load_frames

PY = sys.executable
SUBPROTOCOL = "ocpp1.6"
BOOT = b'","BootNotification",{"chargePointVendor":"ocppfast-bench","chargePointModel":"cg-1"}]'
HEARTBEAT = b'","Heartbeat",{}]'
# The workloads (CALL suffixes sent in turn); the rotation is the load harness's steady one.
WORKLOADS: dict[str, tuple[bytes, ...]] = {
    "heartbeat": (HEARTBEAT,),
    "rotation": load_frames.STEADY_ROTATION,
    "status": (load_frames.STATUS,),
    "meter": (load_frames.METER,),
}

SERVERS: dict[str, tuple[str, list[str], dict[str, str]]] = {
    "echo-c": ("picows echo, C listener (floor)", ["-m", "benchmarks.load.servers.echo_c"], {}),
    "echo": ("picows echo, Python listener", ["-m", "benchmarks.load.servers.echo"], {}),
    "serve": (
        "python -m ocppfast serve, compiled",
        ["-m", "ocppfast", "serve", "--ping-interval", "0", "--quiet"],
        {},
    ),
    "serve-pure": (
        "python -m ocppfast serve, pure Python",
        ["-m", "ocppfast", "serve", "--ping-interval", "0", "--quiet"],
        {"OCPPFAST_NO_EXTENSIONS": "1"},
    ),
    "load": (
        "load harness server (ocppfast.now()), compiled",
        ["-m", "benchmarks.load.servers.ocppfast_cs"],
        {},
    ),
    "load-stamped": (
        "load harness server, datetime.isoformat() per call, compiled",
        ["-m", "benchmarks.load.servers.ocppfast_cs"],
        {"BENCH_PER_CALL_TIME": "1"},
    ),
    # #10: the mobilityhouse-style class of the load harness on ocppfast.compat (its figures
    # against load-stamped: the same answers, a datetime per answer, on the native API)
    "compat": (
        "mobilityhouse code on ocppfast.compat, compiled",
        ["-m", "benchmarks.load.servers.compat_picows"],
        {},
    ),
}


def _base_env() -> dict[str, str]:
    """The caller's environment without the pure switch (each server sets its own)."""
    return {k: v for k, v in os.environ.items() if k != "OCPPFAST_NO_EXTENSIONS"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} (see its log)")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError("server did not listen in time")


class _Client:
    """``chargers`` connections, each with at most one CALL outstanding. ``run(k)`` returns after
    exactly k answers in all: no CALL is sent past the k-th, so a window between two ``run``
    calls holds exactly k round trips whatever the number of connections."""

    def __init__(self) -> None:
        from picows import WSListener, WSMsgType

        text = WSMsgType.TEXT
        client = self

        class Listener(WSListener):  # type: ignore[misc]
            def on_ws_connected(self, transport: Any) -> None:
                client.transports.append(transport)

            def on_ws_frame(self, transport: Any, frame: Any) -> None:
                if frame.msg_type is not text:
                    return
                client.left -= 1
                if client.to_send > 0:
                    client.to_send -= 1
                    client.send(transport, client.suffix or client.next_suffix())
                elif client.left == 0 and client.done is not None and not client.done.done():
                    client.done.set_result(None)

        self.listener = Listener
        self.text = text
        self.transports: list[Any] = []
        self.left = 0
        self.to_send = 0
        self.seq = 0
        self.suffix: bytes | None = None
        self.suffixes: tuple[bytes, ...] = (HEARTBEAT,)
        self.turn = 0
        self.done: asyncio.Future[None] | None = None

    def next_suffix(self) -> bytes:
        suffix = self.suffixes[self.turn % len(self.suffixes)]
        self.turn += 1
        return suffix

    def send(self, transport: Any, suffix: bytes) -> None:
        self.seq += 1
        transport.send(self.text, b'[2,"%d' % self.seq + suffix)

    async def run(self, k: int, suffix: bytes | None = None) -> None:
        """k round trips over all connections (every CALL ``suffix`` if given, else the
        workload's in turn)."""
        self.left = self.to_send = k
        self.suffix = suffix
        self.done = asyncio.get_running_loop().create_future()
        for transport in self.transports[:k]:
            self.to_send -= 1
            self.send(transport, suffix or self.next_suffix())
        await asyncio.wait_for(self.done, 600)


async def _drive(
    port: int, pid: int, warmup: int, calls: int, workload: str, chargers: int = 1
) -> None:
    from picows import ws_connect

    client = _Client()
    client.suffixes = WORKLOADS[workload]
    pending = iter(range(1, chargers + 1))

    async def connect() -> None:  # a few at a time: the server runs under valgrind
        for i in pending:
            await ws_connect(
                client.listener,
                f"ws://127.0.0.1:{port}/CG{i:06d}",
                extra_headers={"Sec-WebSocket-Protocol": SUBPROTOCOL},
                websocket_handshake_timeout=120,
            )

    await asyncio.gather(*(connect() for _ in range(min(chargers, 16))))
    await client.run(chargers, BOOT)  # one BootNotification per connection
    await client.run(max(warmup, chargers))
    client.turn = 0  # the window starts at the rotation's first action
    _control(pid, "-i", "on")
    await client.run(calls)
    _control(pid, "-i", "off")
    for transport in client.transports:
        transport.disconnect()


def _control(pid: int, *args: str) -> None:
    subprocess.run(
        ["callgrind_control", *args, str(pid)], check=True, capture_output=True, timeout=120
    )


def measure(
    name: str,
    warmup: int,
    calls: int,
    workdir: str,
    workload: str = "heartbeat",
    cache_sim: bool = False,
    chargers: int = 1,
    ll: str | None = None,
) -> dict[str, Any]:
    """``ll``: callgrind's ``--LL=size,associativity,line`` (with ``cache_sim``), e.g. a
    per-core L2 of 1 MiB: ``1048576,16,64`` (callgrind models two levels only)."""
    label, argv, env = SERVERS[name]
    port = free_port()
    argv = [*argv, "--port", str(port)]
    out_file = os.path.join(workdir, f"callgrind.{name}.{workload}.out")
    cmd = [
        "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out_file}",
        *(["--cache-sim=yes"] if cache_sim else []), *([f"--LL={ll}"] if ll else []), PY, *argv,
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env={**_base_env(), **env, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,  # the load launchers stop at EOF on stdin
        stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(workdir, f"{name}.log"), "wb"),  # noqa: SIM115
        start_new_session=True,
    )
    try:
        _wait_port(port, proc, 300)
        asyncio.run(_drive(port, proc.pid, warmup, calls, workload, chargers))
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
    totals = _totals(out_file)
    total = totals["Ir"]
    row: dict[str, Any] = {
        "server": name,
        "label": label,
        "workload": workload,
        "chargers": chargers,
        "calls": calls,
        "ir": total,
        "ir_per_call": total / calls,
    }
    if cache_sim:
        for event in CACHE_EVENTS:
            row[f"{event}_per_call"] = totals.get(event, 0) / calls
    return row


# callgrind's cache events reported per call with --cache-sim: I1 misses, LL misses of
# instructions, LL misses of data reads and writes.
CACHE_EVENTS = ("I1mr", "ILmr", "DLmr", "DLmw")


def _totals(path: str) -> dict[str, int]:
    """Events in the dump(s) callgrind wrote for the process (``events:`` names the columns of
    ``totals:``/``summary:``, at the end), summed over the dumps."""
    total: dict[str, int] = {}
    paths = [p for p in Path(path).parent.glob(Path(path).name + "*")]
    for p in paths:
        text = p.read_text(errors="replace")
        m = re.search(r"^events: (.+)$", text, re.MULTILINE)
        names = m.group(1).split() if m else ["Ir"]
        best: list[int] = []
        for found in re.finditer(r"^(?:totals|summary): ([\d ]+)$", text, re.MULTILINE):
            values = [int(v) for v in found.group(1).split()]
            if not best or values[0] > best[0]:
                best = values
        for event, value in zip(names, best, strict=False):
            total[event] = total.get(event, 0) + value
    if not paths:
        raise RuntimeError(f"no callgrind output at {path}")
    total.setdefault("Ir", 0)
    return total


WORKLOAD_TITLES = {
    "heartbeat": "Heartbeat round trip",
    "rotation": "call of the steady rotation (Heartbeat, StatusNotification, MeterValues)",
    "status": "StatusNotification round trip",
    "meter": "MeterValues round trip (one sampled value)",
}


def _command(
    calls: int,
    warmup: int,
    workload: str,
    cache_sim: bool,
    chargers: int = 1,
    ll: str | None = None,
) -> str:
    extra = "" if workload == "heartbeat" else f" --workload {workload}"
    extra += " --cache-sim" if cache_sim else ""
    extra += f" --chargers {chargers}" if chargers != 1 else ""
    extra += f" --ll {ll}" if ll else ""
    return f"python benchmarks/bench_callgrind.py --calls {calls} --warmup {warmup}{extra}"


def report(
    rows: list[dict[str, Any]],
    calls: int,
    warmup: int,
    workload: str = "heartbeat",
    cache_sim: bool = False,
    chargers: int = 1,
    ll: str | None = None,
) -> str:
    by = {r["server"]: r["ir_per_call"] for r in rows}
    plain = workload == "heartbeat" and not cache_sim and chargers == 1 and not ll
    make = "`make callgrind` (`" if plain else "`"
    who = (
        "N=1 (one charger"
        if chargers == 1
        else f"N={chargers} ({chargers} chargers, one CALL outstanding on each"
    )
    cache_head = " | I1 misses per call | LL misses per call (instr / data read / data write)"
    lines = [
        f"# User-space instructions per {WORKLOAD_TITLES[workload]} (callgrind, exact)",
        "",
        (
            f"{make}{_command(calls, warmup, workload, cache_sim, chargers, ll)}`"
            f"{')' if make.startswith('`make') else ''}: server alone under callgrind, {who}"
            f", OCPP 1.6), instrumentation on for exactly {calls} round trips after "
            f"{warmup} warm-up ones. The same build moves by up to ~300 instructions per call "
            "between runs (seen in picows' frame parser, `_get_next_frame_impl`, with the same "
            "frames): compare servers of one run."
        ),
        "",
        "| server | instructions per call | x Python echo | x C floor"
        + (cache_head if cache_sim else "")
        + " |",
        "|---|---:|---:|---:" + ("|---:|---:" if cache_sim else "") + "|",
    ]
    for r in rows:
        echo, floor = by.get("echo"), by.get("echo-c")
        xe = f"{r['ir_per_call'] / echo:.2f}x" if echo else "-"
        xf = f"{r['ir_per_call'] / floor:.2f}x" if floor else "-"
        line = f"| {r['label']} | {r['ir_per_call']:,.0f} | {xe} | {xf}"
        if cache_sim:
            line += (
                f" | {r['I1mr_per_call']:,.0f} | {r['ILmr_per_call']:,.1f} / "
                f"{r['DLmr_per_call']:,.1f} / {r['DLmw_per_call']:,.1f}"
            )
        lines.append(line + " |")
    if "serve" in by and "serve-pure" in by:
        lines.append("")
        lines.append(f"- pure/compiled instructions: {by['serve-pure'] / by['serve']:.2f}x")
        if "echo-c" in by:
            layer_c, layer_p = by["serve"] - by["echo-c"], by["serve-pure"] - by["echo-c"]
            lines.append(
                f"- OCPP layer (serve minus the C floor): compiled {layer_c:,.0f}, "
                f"pure {layer_p:,.0f}, pure/compiled {layer_p / layer_c:.2f}x"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--warmup", type=int, default=300)
    p.add_argument("--servers", default=",".join(SERVERS))
    p.add_argument("--workload", choices=sorted(WORKLOADS), default="heartbeat")
    p.add_argument(
        "--cache-sim",
        action="store_true",
        help="also count instruction-cache (I1) and last-level cache misses per call",
    )
    p.add_argument(
        "--chargers",
        type=int,
        default=1,
        help="connections, each with one CALL outstanding (default 1): per-connection state "
        "that falls out of the caches shows as misses per call",
    )
    p.add_argument(
        "--ll",
        metavar="SIZE,ASSOC,LINE",
        help="with --cache-sim: the modelled last level, e.g. 1048576,16,64 for a 1 MiB L2",
    )
    p.add_argument(
        "--out",
        help="default: benchmarks/results/callgrind[-<workload>][-cache][-n<chargers>].md",
    )
    p.add_argument(
        "--keep",
        metavar="DIR",
        help="keep the callgrind dumps in DIR (read them with callgrind_annotate)",
    )
    args = p.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("valgrind (callgrind) is not installed: apt-get install valgrind", file=sys.stderr)
        return 2
    if args.out is None:
        stem = "callgrind" + ("" if args.workload == "heartbeat" else f"-{args.workload}")
        stem += "-cache" if args.cache_sim else ""
        stem += f"-n{args.chargers}" if args.chargers != 1 else ""
        args.out = str(ROOT / "benchmarks" / "results" / f"{stem}.md")
    rows = []
    with tempfile.TemporaryDirectory(prefix="ocppfast-cg-") as tmp:
        workdir = args.keep or tmp
        os.makedirs(workdir, exist_ok=True)
        for name in args.servers.split(","):
            t0 = time.perf_counter()
            row = measure(
                name, args.warmup, args.calls, workdir, args.workload, args.cache_sim,
                args.chargers, args.ll,
            )  # fmt: skip
            rows.append(row)
            misses = f", {row['I1mr_per_call']:,.0f} I1 misses" if args.cache_sim else ""
            print(
                f"{row['label']}: {row['ir_per_call']:,.0f} instructions per call{misses} "
                f"({time.perf_counter() - t0:.0f} s)",
                flush=True,
            )
    text = report(
        rows, args.calls, args.warmup, args.workload, args.cache_sim, args.chargers, args.ll
    )
    Path(args.out).write_text(text)
    Path(args.out).with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
