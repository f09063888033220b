"""The cluster benchmark: N stations across W worker processes on one port, routed through Redis.

Parts (all real processes on loopback; nothing is mocked):

- redis-server on a unix socket in a temp dir (no persistence);
- ``python -m ocppfast serve --workers W --redis unix://...`` (the supervisor of
  ``ocppfast.run``: SO_REUSEPORT, backlog 4096, one cluster node per worker);
- the load harness' generator processes (``benchmarks.load.generator``: lean picows chargers,
  source addresses spread over 127.0.0.x, at most ``per_process`` each) for the N stations;
- this process: a cluster node with its own CentralSystem (the caller), and a process of
  reconnecting ocppfast stations (``stations.py``) for the latency and failover phases.

Figures: boot of all N; Redis memory per station; worker RSS per station; fan-out to all N
(``call_many``, one message per node) answered; remote vs local round trip p50/p99 with the CPU
per call of the caller, the owner and redis-server; failover: SIGKILL of a worker until calls
to its stations fail fast, and until every one of its (reconnecting) stations answers again.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import psutil

import ocppfast
from benchmarks.load.control import ControlledProcess, stop_all
from benchmarks.load.harness import Chargers, machine_info, process_cpu_s
from ocppfast.cluster import Cluster

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclass
class Options:
    stations: int = 50_000
    workers: int = 3
    per_process: int = 12_500
    fanout_rounds: int = 3
    latency_calls: int = 300  # per block; blocks: latency_rounds pairs of local and routed
    latency_rounds: int = 15
    failover_stations: int = 1000
    lease_ttl: float = 10.0  # the default


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q / 100 * len(s)))]


class Redis:
    def __init__(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise SystemExit("redis-server not found (Debian: apt-get install redis-server)")
        self.dir = tempfile.mkdtemp(prefix="ocf-bench-redis-")
        self.sock = os.path.join(self.dir, "redis.sock")
        self.proc = subprocess.Popen(
            [
                exe,
                "--port",
                "0",
                "--unixsocket",
                self.sock,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
                "--logfile",
                os.path.join(self.dir, "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not os.path.exists(self.sock):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit("redis-server did not start")
            time.sleep(0.02)
        self.ps = psutil.Process(self.proc.pid)
        self.url = f"unix://{self.sock}"

    def cpu(self) -> float:
        return process_cpu_s(self.ps)

    def info(self, section: str) -> dict[str, str]:
        import redis

        client = redis.Redis(unix_socket_path=self.sock)
        try:
            return {k: str(v) for k, v in client.info(section).items()}
        finally:
            client.close()

    def memory_usage(self, key: str) -> int:
        import redis

        client = redis.Redis(unix_socket_path=self.sock)
        try:
            return int(client.memory_usage(key, samples=0) or 0)
        finally:
            client.close()

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Workers:
    def __init__(self, redis_url: str, n: int, lease_ttl: float, log_dir: str) -> None:
        self.log = open(os.path.join(log_dir, "workers.log"), "w")  # noqa: SIM115 - closed in stop
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ocppfast",
                "serve",
                "--workers",
                str(n),
                "--redis",
                redis_url,
                "--port",
                "0",
                "--quiet",
                "--ping-interval",
                "0",
                "--lease-ttl",
                str(lease_ttl),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            start_new_session=True,
        )
        self.n = n
        self.pids: dict[int, int] = {}
        self.port = 0
        self.wait_ready(n)

    def wait_ready(self, count: int, timeout: float = 60) -> None:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while count > 0 and time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise SystemExit("workers exited")
            if " ready pid=" in line:
                fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
                self.pids[int(line.split()[2])] = int(fields["pid"])
                self.port = int(fields["port"])
                count -= 1

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def _rss(pid: int) -> int:
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return 0


def _cpu_of(pid: int) -> float:
    try:
        return process_cpu_s(psutil.Process(pid))
    except psutil.Error:
        return 0.0


async def _blocking(fn: Any, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


async def _until(cond: Any, timeout: float, step: float = 0.1) -> float:
    t0 = time.monotonic()
    while not await cond():
        if time.monotonic() - t0 > timeout:
            raise TimeoutError("condition not met")
        await asyncio.sleep(step)
    return time.monotonic() - t0


async def run(opts: Options, log_dir: str, say: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "machine": machine_info(None, None),
        "implementation": ocppfast.implementation,
        "options": vars(opts),
    }
    redis = Redis()
    out["redis_version"] = redis.info("server").get("redis_version")
    mem0 = int(redis.info("memory")["used_memory"])
    workers = Workers(redis.url, opts.workers, opts.lease_ttl, log_dir)
    say(f"{opts.workers} workers on port {workers.port}: pids {sorted(workers.pids.values())}")
    rss0 = {i: _rss(p) for i, p in workers.pids.items()}
    cs = ocppfast.CentralSystem(ping_interval=0)
    await cs.start("127.0.0.1", 0)
    node = await Cluster(cs, redis_url=redis.url, lease_ttl=opts.lease_ttl).start()
    chargers: Chargers | None = None
    stations: ControlledProcess | None = None
    try:
        # --- N stations booted through the shared port --------------------------------------
        chargers = await _blocking(
            lambda: Chargers(opts.stations, opts.per_process, None, log_dir, "uvloop")
        )
        t0 = time.monotonic()
        boot = await _blocking(
            chargers.connect, f"ws://127.0.0.1:{workers.port}", max(60.0, opts.stations / 200)
        )
        say(f"booted {boot['booted']}/{opts.stations} in {boot['time_to_all_booted_s']:.1f} s")
        claimed_s = await _until(lambda: _count_at_least(node, boot["booted"]), 120)
        out["boot"] = {
            **{k: boot[k] for k in ("requested", "connected", "booted", "errors")},
            "time_to_all_booted_s": round(boot["time_to_all_booted_s"], 2),
            "all_claimed_after_s": round(time.monotonic() - t0, 2),
            "claim_wait_after_boot_s": round(claimed_s, 2),
        }
        await asyncio.sleep(2.0)  # idle settle
        nodes = {n.id: n for n in await node.nodes()}
        per_worker = []
        for i, pid in sorted(workers.pids.items()):
            n = next((x for x in nodes.values() if x.pid == pid), None)
            held = n.stations if n else 0
            rss = _rss(pid)
            per_worker.append(
                {
                    "worker": i,
                    "pid": pid,
                    "stations": held,
                    "rss_mib": round(rss / 2**20, 1),
                    "kib_per_station": round(rss / 1024 / held, 2) if held else None,
                    "kib_per_station_above_idle": round((rss - rss0[i]) / 1024 / held, 2)
                    if held
                    else None,
                }
            )
        total = sum(w["stations"] for w in per_worker)
        mem1 = int(redis.info("memory")["used_memory"])
        out["memory"] = {
            "workers": per_worker,
            "redis_used_memory_mib": round(mem1 / 2**20, 2),
            "redis_bytes_per_station": round((mem1 - mem0) / max(total, 1), 1),
            "presence_hash_bytes_per_station": round(
                redis.memory_usage(node.keys.presence) / max(total, 1), 1
            ),
        }
        say(f"memory: {out['memory']}")

        # --- fan-out to every station --------------------------------------------------------
        rounds = []
        for r in range(opts.fanout_rounds):
            cpu_w = {p: _cpu_of(p) for p in workers.pids.values()}
            cpu_r, cpu_c = redis.cpu(), time.process_time()
            t = time.perf_counter()
            res = await node.call_many(
                "TriggerMessage", {"requestedMessage": "Heartbeat"}, timeout=30
            )
            dt = time.perf_counter() - t
            ok = sum(1 for v in res.values() if not isinstance(v, BaseException))
            rounds.append(
                {
                    "round": r + 1,
                    "stations": len(res),
                    "answered": ok,
                    "seconds": round(dt, 3),
                    "caller_cpu_s": round(time.process_time() - cpu_c, 3),
                    "workers_cpu_s": round(sum(_cpu_of(p) - c for p, c in cpu_w.items()), 3),
                    "redis_cpu_s": round(redis.cpu() - cpu_r, 3),
                }
            )
            say(f"fan-out round {r + 1}: {ok}/{len(res)} answered in {dt:.3f} s")
        out["fanout"] = rounds

        # --- remote vs local round trips -----------------------------------------------------
        stations = await _blocking(
            lambda: ControlledProcess(
                "benchmarks.cluster.stations",
                cwd=ROOT,
                stderr_path=os.path.join(log_dir, "stations.log"),
            )
        )
        await _blocking(stations.request, {"op": "pid"}, 30)
        here = f"ws://127.0.0.1:{cs.port}/ocpp"
        there = f"ws://127.0.0.1:{workers.port}/ocpp"
        await _blocking(
            stations.request, {"op": "connect", "url": here, "prefix": "LOCAL-", "count": 1}, 30
        )
        await _blocking(
            stations.request, {"op": "connect", "url": there, "prefix": "REMOTE-", "count": 1}, 30
        )
        await _until(lambda: _present(node, "REMOTE-00000"), 10, 0.05)
        loc = await node.where("REMOTE-00000")
        assert loc is not None
        owner_pid = next(n.pid for n in await node.nodes() if n.id == loc.node)
        out["latency"] = await paired_rounds(
            node,
            "LOCAL-00000",
            "REMOTE-00000",
            owner_pid,
            redis.proc.pid,
            opts.latency_rounds,
            opts.latency_calls,
            say,
        )
        # concurrent: CONCURRENT stations per side, each with back-to-back calls
        for prefix, url in (("LOCALC-", here), ("REMOTEC-", there)):
            await _blocking(
                stations.request,
                {"op": "connect", "url": url, "prefix": prefix, "count": CONCURRENT},
                60,
            )
        ids = {p: [f"{p}{i:05d}" for i in range(CONCURRENT)] for p in ("LOCALC-", "REMOTEC-")}
        await _until(lambda: _all_present(node, ids["REMOTEC-"]), 30)
        worker_pids = list(workers.pids.values())
        out["concurrent"] = {
            "local": await _concurrent(node, ids["LOCALC-"], [], redis),
            "remote": await _concurrent(node, ids["REMOTEC-"], worker_pids, redis),
        }
        say(f"concurrent: {out['concurrent']}")
        clo, cre = out["concurrent"]["local"], out["concurrent"]["remote"]
        out["concurrent"]["added_cpu_us_total"] = round(
            cre["caller_cpu_us"] + cre["owner_cpu_us"] + cre["redis_cpu_us"] - clo["caller_cpu_us"],
            1,
        )
        say(f"latency: {out['latency']}")

        # --- failover ------------------------------------------------------------------------
        await _blocking(
            stations.request,
            {"op": "connect", "url": there, "prefix": "FO-", "count": opts.failover_stations},
            120,
        )
        fo_ids = [f"FO-{i:05d}" for i in range(opts.failover_stations)]
        await _until(lambda: _all_present(node, fo_ids), 60)
        loc = await node.where(fo_ids[0])
        assert loc is not None
        victim_node = loc.node
        victim_pid = next(n.pid for n in await node.nodes() if n.id == victim_node)
        owners = await node._owners(fo_ids)
        on_victim = [i for i in fo_ids if owners.get(i, ("", False))[0] == victim_node]
        os.kill(victim_pid, signal.SIGKILL)
        killed = time.monotonic()
        fail_fast = None
        first_error = ""
        while time.monotonic() - killed < 30:
            try:
                await node.call(on_victim[0], "Reset", {"type": "Soft"}, timeout=5)
            except ocppfast.ConnectionClosedError as exc:
                fail_fast = time.monotonic() - killed
                first_error = type(exc).__name__
                break
            except ocppfast.CallTimeoutError:
                continue
            await asyncio.sleep(0.005)

        async def healed() -> bool:
            res = await node.call_many("Reset", {"type": "Soft"}, identities=on_victim, timeout=2)
            return all(not isinstance(v, BaseException) for v in res.values())

        heal = await _until(healed, 60, 0.05)
        healed_at = time.monotonic() - killed
        gone = await _until(lambda: _node_gone(node, victim_node), 60, 0.1)
        out["failover"] = {
            "stations_on_killed_worker": len(on_victim),
            "reconnecting_stations": opts.failover_stations,
            "fail_fast_s": round(fail_fast, 4) if fail_fast is not None else None,
            "fail_fast_error": first_error,
            "all_answer_again_s": round(healed_at, 2),
            "dead_node_removed_s": round(time.monotonic() - killed, 2),
            "lease_ttl_s": opts.lease_ttl,
            "heal_wait_s": round(heal, 2),
            "gone_wait_s": round(gone, 2),
        }
        say(f"failover: {out['failover']}")
    finally:
        await node.close()
        await cs.close()
        if chargers is not None:
            await _blocking(chargers.close)
        if stations is not None:
            await _blocking(stations.stop)
        workers.stop()
        redis.stop()
        stop_all()
    return out


CONCURRENT = 64
CONCURRENT_SECONDS = 3.0


async def _concurrent(
    node: Cluster, ids: list[str], owner_pids: list[int], redis: Redis
) -> dict[str, Any]:
    """Every station in ``ids`` called back to back (one outstanding CALL each) for a while:
    CPU per call with the event loops busy, as under real load."""
    stop = False
    calls = 0

    async def loop(identity: str) -> None:
        nonlocal calls
        while not stop:
            await node.call(identity, "Reset", {"type": "Soft"})
            calls += 1

    tasks = [asyncio.ensure_future(loop(i)) for i in ids]
    await asyncio.sleep(0.5)  # warm up
    c0, r0 = time.process_time(), redis.cpu()
    o0 = sum(_cpu_of(p) for p in owner_pids)
    n0, t0 = calls, time.perf_counter()
    await asyncio.sleep(CONCURRENT_SECONDS)
    c1, r1 = time.process_time(), redis.cpu()
    o1 = sum(_cpu_of(p) for p in owner_pids)
    n, dt = calls - n0, time.perf_counter() - t0
    stop = True
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "stations": len(ids),
        "calls": n,
        "calls_per_s": round(n / dt),
        "caller_cpu_us": round((c1 - c0) / n * 1e6, 1),
        "owner_cpu_us": round((o1 - o0) / n * 1e6, 1),
        "redis_cpu_us": round((r1 - r0) / n * 1e6, 1),
    }


async def _count_at_least(node: Cluster, n: int) -> bool:
    return await node.count() >= n


async def _present(node: Cluster, identity: str) -> bool:
    return await node.where(identity) is not None


async def _all_present(node: Cluster, ids: list[str]) -> bool:
    owners = await node._owners(ids)
    return len(owners) == len(ids)


async def _node_gone(node: Cluster, node_id: str) -> bool:
    return node_id not in {n.id for n in await node.nodes()}


async def _block(
    node: Cluster, identity: str, n: int, pids: dict[str, int]
) -> tuple[dict[str, float], list[float]]:
    """``n`` sequential calls: CPU us per call of this process ("caller") and of ``pids`` (all
    threads, from schedstat), and the latencies (s)."""
    perf = time.perf_counter
    lat = []
    before = {k: _cpu_of(p) for k, p in pids.items()}
    c0 = time.process_time()
    for _ in range(n):
        t = perf()
        await node.call(identity, "Reset", {"type": "Soft"})
        lat.append(perf() - t)
    c1 = time.process_time()
    after = {k: _cpu_of(p) for k, p in pids.items()}
    cpu = {f"{k}_cpu_us": (after[k] - before[k]) / n * 1e6 for k in pids}
    cpu["caller_cpu_us"] = (c1 - c0) / n * 1e6
    return cpu, lat


async def paired_rounds(
    node: Cluster,
    local_id: str,
    remote_id: str,
    owner_pid: int,
    redis_pid: int,
    rounds: int,
    calls: int,
    say: Any = None,
) -> dict[str, Any]:
    """One call at a time: ``rounds`` pairs of ``calls`` sequential local and routed calls (the
    order alternates), CPU per call of the caller, the owner and redis-server read around each
    block. The machine is shared, so figures are medians over rounds; the added CPU is that of
    each round's pair, ``caller + owner + redis (routed) - caller (local)`` (the owner pays the
    local call's cost in the routed case), then its median."""
    pids = {"owner": owner_pid, "redis": redis_pid}
    for identity in (local_id, remote_id):  # warm up
        await _block(node, identity, 200, {})
    per_round = []
    lat: dict[str, list[float]] = {"local": [], "remote": []}
    for r in range(rounds):
        order = ("local", "remote") if r % 2 == 0 else ("remote", "local")
        got: dict[str, dict[str, float]] = {}
        for kind in order:
            got[kind], lats = await _block(
                node, local_id if kind == "local" else remote_id, calls, pids
            )
            lat[kind] += lats
        rem, loc = got["remote"], got["local"]
        added = rem["caller_cpu_us"] + rem["owner_cpu_us"] + rem["redis_cpu_us"]
        added -= loc["caller_cpu_us"]
        per_round.append({"local": loc, "remote": rem, "added": added})
        if say is not None:
            say(
                f"round {r + 1}/{rounds}: routed caller {rem['caller_cpu_us']:.1f} owner "
                f"{rem['owner_cpu_us']:.1f} redis {rem['redis_cpu_us']:.1f}; local caller "
                f"{loc['caller_cpu_us']:.1f} -> added {added:.1f} us"
            )

    def side(kind: str, keys: tuple[str, ...]) -> dict[str, Any]:
        values = lat[kind]
        out: dict[str, Any] = {
            "calls": len(values),
            "p50_ms": _ms(_pct(values, 50)),
            "p99_ms": _ms(_pct(values, 99)),
            "mean_ms": _ms(statistics.fmean(values)),
        }
        for key in keys:
            out[key] = round(statistics.median(x[kind][key] for x in per_round), 1)
        return out

    local = side("local", ("caller_cpu_us", "owner_cpu_us", "redis_cpu_us"))
    local["owner_cpu_us"] = None  # the station is on the caller: no owner
    remote = side("remote", ("caller_cpu_us", "owner_cpu_us", "redis_cpu_us"))
    return {
        "rounds": rounds,
        "calls_per_block": calls,
        "local": local,
        "remote": remote,
        "added_p50_ms": round(remote["p50_ms"] - local["p50_ms"], 3),
        "added_cpu_us_total": round(statistics.median(x["added"] for x in per_round), 1),
        "added_cpu_us_rounds": [round(x["added"], 1) for x in per_round],
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
