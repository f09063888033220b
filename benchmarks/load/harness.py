"""The orchestrator: start each server and the generators, run the scenarios, collect figures.

For the server kinds asked (``servers.SERVERS``):

* small steady (first, every server at once: :func:`run_small`): for each n in ``steady_ns`` (1
  and 100; the full profile also 1,000, whose goals are then read on interleaved rounds and
  not on the scale run's single one) connect n chargers to each server, run the steady load on each server in turn for
  ``small_rounds`` interleaved rounds (medians; rounds kept for paired ratios; with
  ``small_fresh``, as in the full profile, every round on a new server and chargers), disconnect;
* scale, one server kind after another: for each N in ``scale_ns``, a fresh server: baseline RSS; connect + BootNotification of
  N chargers (scenario 1); idle hold (scenario 4: RSS per charger); fan-out rounds (scenario 3);
  steady load with all N chargers (scenario 2); stop. A server that cannot boot all N stops
  there (the reason is recorded) and is not tried at a larger N.

Server CPU is user+sys of the server pid (/proc schedstat, ns resolution) before and after each
measured window; RSS is the server pid's (psutil). Every wait has a timeout; children are killed by process group on any exit.
"""

from __future__ import annotations

import math
import os
import platform
import resource
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import psutil

from . import hist
from .control import ChildError, ControlledProcess, stop_all, wait_all
from .servers import SERVERS, ServerKind
from .servers.launcher import TRANSPORT_ENV

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Every launcher listens with backlog=4096 (asyncio's default is 100): keeping
# the handshakes in flight below it keeps SYN/accept-queue drops out of the boot times.
CONNECT_IN_FLIGHT = 512
WARMUP_CAP_S = 30.0
FANOUT_BUDGET_S = 10.0  # no further fan-out round once the rounds so far took this long


@dataclass
class Profile:
    name: str
    steady_ns: list[int]
    scale_ns: list[int]
    duration: float  # measured window of a steady phase, seconds
    warmup: float
    fanout_rounds: int
    idle_settle: float
    per_process: int = 5000  # chargers per generator process (fd cap 20,000 per process)
    # Steady runs repeated with the generator on the server's core: on a VM, waking an idle vCPU
    # costs up to milliseconds, which dominates a lone charger's round trip when the two sides
    # sit on different cores; on one core the round trip is the two sides' CPU work alone.
    steady_shared_core_ns: list[int] = field(default_factory=lambda: [1])
    # Largest N tried per server kind; beyond it the row says "not run" and why.
    caps: dict[str, int] = field(default_factory=dict)
    cap_reason: str = ""
    picows_transport: str = "uvloop"  # or "aiofastnet" (picows' default when installed)
    # Interleaved rounds of the small steady runs (see run_small): one server measured alone for
    # a few seconds moves 10-20% with the machine; rounds paired in time cancel most of it.
    small_rounds: int = 1
    # Start every server and its chargers anew for each of those rounds: the layout a process
    # happens to get (addresses, hash seed, heap) moves a Python server's cost per call by up to
    # 15% and stays fixed for the process' life, so one process per run is one sample, however
    # many rounds it runs (``benchmarks.load.ab --fresh`` measured it).
    small_fresh: bool = False


QUICK = Profile(
    "quick", [1, 100], [1000], duration=3.0, warmup=1.0, fanout_rounds=3, idle_settle=1.5
)
FULL = Profile(
    "full",
    [1, 100, 1000],
    [1000, 10000, 19000],
    duration=5.0,
    warmup=1.0,
    fanout_rounds=3,
    idle_settle=2.0,
    small_rounds=7,
    small_fresh=True,
)


def scale_cap(kind: ServerKind, profile: Profile) -> tuple[int | None, str]:
    """The largest N of ``kind``'s scale runs and why: the profile's cap for it, else the
    kind's own (a server that is only a reference at small N), else none."""
    if kind.name in profile.caps:
        return profile.caps[kind.name], f"in this profile: {profile.cap_reason}"
    if kind.scale_cap is not None:
        return kind.scale_cap, kind.scale_cap_reason
    return None, ""


def process_cpu_s(ps: psutil.Process) -> float:
    """CPU seconds (user+sys) of a process: from /proc/<pid>/task/*/schedstat (nanoseconds),
    else psutil's clock-tick counters (10 ms resolution: too coarse for 1,000 boots)."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{ps.pid}/task"):
            with open(f"/proc/{ps.pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        return total / 1e9
    except (OSError, ValueError, IndexError):
        t = ps.cpu_times()
        return float(t.user + t.system)


def system_busy_s() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat), to see load from other processes."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def machine_info(server_cpus: set[int] | None, client_cpus: set[int] | None) -> dict[str, Any]:
    model = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import msgspec
    import picows
    import uvloop

    try:
        from importlib.metadata import version

        import ocpp  # noqa: F401

        ocpp_v, ws_v = version("ocpp"), version("websockets")
    except ImportError:
        ocpp_v = ws_v = "?"
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "cores_allowed": sorted(os.sched_getaffinity(0)),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "picows": picows.__version__,
        "uvloop": uvloop.__version__,
        "msgspec": msgspec.__version__,
        "ocpp": ocpp_v,
        "websockets": ws_v,
        "nofile_limit": nofile,
        "pinning": {
            "server": sorted(server_cpus) if server_cpus else "none",
            "generators+harness": sorted(client_cpus) if client_cpus else "none",
        },
    }


class ServerProcess:
    def __init__(
        self,
        kind: ServerKind,
        cpus: set[int] | None,
        log_dir: str,
        transport: str = "uvloop",
        root: str | None = None,
    ) -> None:
        """``root``: the checkout whose code the server runs (default: this one)."""
        self.kind = kind
        env = dict(kind.env)
        env[TRANSPORT_ENV] = transport
        self.child = ControlledProcess(
            kind.module,
            ["--host", "127.0.0.1", "--port", "0"],
            env=env,
            cpus=cpus,
            cwd=root or ROOT,
            stderr_path=os.path.join(log_dir, f"server-{kind.name}.log"),
        )
        hello = self.child.read(timeout=60)
        if not hello.get("ready"):
            raise ChildError(f"{kind.name}: did not start: {hello}")
        self.port = hello["port"]
        self.impl = hello.get("impl", "")
        self.ps = psutil.Process(self.child.pid)
        self.url = f"ws://127.0.0.1:{self.port}"

    def cpu(self) -> float:
        return process_cpu_s(self.ps)

    def rss(self) -> int:
        return int(self.ps.memory_info().rss)

    def request(self, cmd: dict[str, Any], timeout: float) -> dict[str, Any]:
        if self.child.proc.poll() is not None:
            raise ChildError(f"{self.kind.name}: server exited (code {self.child.proc.poll()})")
        return self.child.request(cmd, timeout)

    def stop(self) -> None:
        self.child.stop()


class Chargers:
    """N simulated chargers spread over generator processes of at most ``per_process`` each."""

    def __init__(
        self, n: int, per_process: int, cpus: set[int] | None, log_dir: str, transport: str
    ) -> None:
        self.n = n
        procs = max(1, math.ceil(n / per_process))
        base, extra = divmod(n, procs)
        self.shares = [base + (1 if i < extra else 0) for i in range(procs)]
        self.gens = [
            ControlledProcess(
                "benchmarks.load.generator",
                env={TRANSPORT_ENV: transport},
                cpus=cpus,
                cwd=ROOT,
                stderr_path=os.path.join(log_dir, "generators.log"),
            )
            for _ in self.shares
        ]
        for g in self.gens:
            g.request({"op": "pid"}, timeout=60)  # started and listening
        self.ps = [psutil.Process(g.pid) for g in self.gens]

    def cpu(self) -> float:
        return sum(process_cpu_s(p) for p in self.ps)

    def all(self, cmd: dict[str, Any], timeout: float) -> list[dict[str, Any]]:
        for g in self.gens:
            g.send(cmd)
        return wait_all(self.gens, timeout)

    def connect(self, url: str, timeout: float) -> dict[str, Any]:
        per_gen = max(1, CONNECT_IN_FLIGHT // len(self.gens))
        first = 0
        t0 = time.perf_counter()
        for g, share in zip(self.gens, self.shares, strict=True):
            g.send(
                {
                    "op": "connect",
                    "url": url,
                    "first": first,
                    "count": share,
                    "concurrency": per_gen,
                    "timeout": timeout,
                }
            )
            first += share
        replies = wait_all(self.gens, timeout + 30)
        wall = time.perf_counter() - t0
        errors: dict[str, int] = {}
        samples: list[str] = []
        for r in replies:
            for k, v in r.get("errors", {}).items():
                errors[k] = errors.get(k, 0) + v
            samples += r.get("error_samples", [])
        lat = hist.percentiles(hist.merge(r["hist"] for r in replies), [50, 99])
        return {
            "requested": self.n,
            "connected": sum(r["connected"] for r in replies),
            "booted": sum(r["booted"] for r in replies),
            "accepted": sum(r["accepted"] for r in replies),
            "subprotocol_mismatch": sum(r["subprotocol_mismatch"] for r in replies),
            "time_to_all_booted_s": max(r["elapsed"] for r in replies),
            "wall_s": wall,
            "boot_latency_p50_s": lat["p50"],
            "boot_latency_p99_s": lat["p99"],
            "errors": errors,
            "error_samples": samples[:5],
        }

    def close(self) -> None:
        for g in self.gens:
            try:
                g.request({"op": "close", "timeout": 10}, timeout=20)
            except ChildError:
                pass
            g.stop()


def steady(server: ServerProcess, chargers: Chargers, profile: Profile) -> dict[str, Any]:
    """Scenario 2: every charger calls as fast as one outstanding CALL allows."""
    started = chargers.all({"op": "steady_start"}, timeout=30)
    n = sum(x["chargers"] for x in started)
    # Warm up for ``warmup`` seconds and until every charger has had one answer (a server that
    # queues work, e.g. in a thread pool, answers nothing for a while), at most WARMUP_CAP_S.
    t_start = time.perf_counter()
    time.sleep(profile.warmup)
    completed = 0
    while time.perf_counter() - t_start < WARMUP_CAP_S:
        completed = sum(x["completed"] for x in chargers.all({"op": "status"}, timeout=30))
        if completed >= n:
            break
        time.sleep(0.2)
    warmup_s = time.perf_counter() - t_start
    cpu0, gcpu0, sys0 = server.cpu(), chargers.cpu(), system_busy_s()
    t0 = time.perf_counter()
    chargers.all({"op": "mark"}, timeout=30)
    # A server that answers in waves (all requests first, then all responses) needs a window
    # longer than one wave, else it may show no answer at all: at least 1.5 warm-up rounds.
    window = min(WARMUP_CAP_S, max(profile.duration, 1.5 * warmup_s))
    time.sleep(window)
    cpu1, gcpu1, sys1 = server.cpu(), chargers.cpu(), system_busy_s()
    t1 = time.perf_counter()
    replies = chargers.all({"op": "steady_stop", "drain": 15}, timeout=60)
    calls = sum(r["calls"] for r in replies)
    lat = hist.percentiles(hist.merge(r["hist"] for r in replies), [50, 99, 99.9])
    return {
        "chargers": n,
        "warmup_s": warmup_s,
        "window_s": t1 - t0,
        "answers_before_window": completed,
        "calls": calls,
        "calls_per_s": calls / (t1 - t0),
        "latency_s": lat,
        "server_cpu_s": cpu1 - cpu0,
        "server_cpu_us_per_call": (cpu1 - cpu0) / calls * 1e6 if calls else None,
        "server_rss": server.rss(),
        # Which side is the bottleneck: busy fraction of one core over the window.
        "server_core_busy": (cpu1 - cpu0) / (t1 - t0),
        "generator_core_busy": (gcpu1 - gcpu0) / (t1 - t0),
        # Everything else on the machine (other users' jobs, the harness): should be near 0%.
        "other_busy": max(0.0, (sys1 - sys0) - (cpu1 - cpu0) - (gcpu1 - gcpu0)) / (t1 - t0),
        "call_errors": sum(r["call_errors"] for r in replies),
        "bad_ids": sum(r["bad_ids"] for r in replies),
        "disconnects": sum(r["disconnects"] for r in replies),
        "undrained": sum(r["undrained"] for r in replies),
    }


def connect_timeout(n: int) -> float:
    # Generous (a slow peer at 200 boots/s still finishes) but bounded.
    return max(20.0, min(240.0, n / 100.0))


def _median_sample(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Field by field medians of several :func:`steady` results (nested dicts too)."""
    out: dict[str, Any] = {}
    for key, first in samples[0].items():
        values = [s.get(key) for s in samples]
        if isinstance(first, dict):
            out[key] = _median_sample([v for v in values if isinstance(v, dict)])
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            out[key] = statistics.median(values)  # type: ignore[type-var]
        else:
            out[key] = first
    return out


def run_small(
    kinds: list[ServerKind], profile: Profile, cpus: tuple, log_dir: str, say: Any
) -> dict[str, dict[str, Any]]:
    """The small steady runs of every server, interleaved: all servers up at once (idle ones
    cost nothing measurable), each with its own chargers, then ``profile.small_rounds`` rounds
    in which every server in turn runs the steady load (order reversed every other round, as
    ``benchmarks.load.ab`` does). A server's figures are the medians over rounds; each round is
    kept (``rounds``) so that ratios between servers can be paired within a round (same moment,
    same machine load): ``report.goals`` does. Returns {server name: {run key: figures}}."""
    out: dict[str, dict[str, Any]] = {k.name: {} for k in kinds}
    servers: dict[str, ServerProcess] = {}
    try:
        for kind in kinds:
            try:
                servers[kind.name] = ServerProcess(kind, cpus[0], log_dir, profile.picows_transport)
            except Exception as exc:  # noqa: BLE001 - recorded; the others go on
                out[kind.name] = {"error": f"{type(exc).__name__}: {exc}"}
                say(f"  {kind.name}: steady failed: {exc}")
        runs = [(n, str(n), cpus[1]) for n in profile.steady_ns]
        if cpus[0] is not None:
            runs += [(n, f"{n}@shared-core", cpus[0]) for n in profile.steady_shared_core_ns]
        for n, key, gen_cpus in runs:
            fleets: dict[str, Chargers] = {}
            try:
                for name, server in servers.items():
                    fleet = Chargers(n, profile.per_process, gen_cpus, log_dir,
                                     profile.picows_transport)  # fmt: skip
                    fleets[name] = fleet
                    boot = fleet.connect(server.url, connect_timeout(n))
                    if boot["booted"] < n:
                        out[name][key] = {"status": "stopped", "reason": _why(boot, n),
                                          "boot": boot}  # fmt: skip
                ready = [name for name in servers if key not in out[name]]
                samples: dict[str, list[dict[str, Any]]] = {name: [] for name in ready}
                for r in range(profile.small_rounds):
                    order = ready if r % 2 == 0 else list(reversed(ready))
                    for name in order:
                        if profile.small_fresh and r > 0:
                            fleets.pop(name).close()
                            servers[name].stop()
                            servers[name] = ServerProcess(
                                servers[name].kind, cpus[0], log_dir, profile.picows_transport
                            )
                            fleets[name] = Chargers(n, profile.per_process, gen_cpus, log_dir,
                                                    profile.picows_transport)  # fmt: skip
                            boot = fleets[name].connect(servers[name].url, connect_timeout(n))
                            if boot["booted"] < n:
                                raise RuntimeError(f"{name}: booted {boot['booted']} of {n}")
                        s = steady(servers[name], fleets[name], profile)
                        s["server_pid"] = servers[name].ps.pid
                        samples[name].append(s)
                        say(
                            f"  {name:14s} steady n={key:<6s} {s['calls_per_s']:9.0f} calls/s  "
                            f"p50 {_ms(s['latency_s']['p50'])} ms  "
                            f"cpu {s['server_cpu_us_per_call'] or 0:.1f} us/call  "
                            f"other {s['other_busy']:.0%}"
                            + (
                                f"  (round {r + 1}/{profile.small_rounds})"
                                if profile.small_rounds > 1
                                else ""
                            )
                        )
                for name, rows in samples.items():
                    figures = _median_sample(rows)
                    figures.pop("server_pid", None)  # per round only
                    out[name][key] = {"status": "ok", **figures, "rounds": rows}
            finally:
                for fleet in fleets.values():
                    fleet.close()
    finally:
        for server in servers.values():
            server.stop()
    return out


def run_scale(
    kind: ServerKind, n: int, profile: Profile, cpus: tuple, log_dir: str, say: Any
) -> dict[str, Any]:
    server = ServerProcess(kind, cpus[0], log_dir, profile.picows_transport)
    row: dict[str, Any] = {"n": n, "impl": server.impl}
    chargers: Chargers | None = None
    try:
        time.sleep(0.3)
        rss0 = server.rss()
        row["rss_baseline"] = rss0
        chargers = Chargers(n, profile.per_process, cpus[1], log_dir, profile.picows_transport)
        row["generator_processes"] = len(chargers.gens)
        cpu0, gcpu0, sys0 = server.cpu(), chargers.cpu(), system_busy_s()
        boot = chargers.connect(server.url, connect_timeout(n))
        cpu1, gcpu1, sys1 = server.cpu(), chargers.cpu(), system_busy_s()
        boot["other_busy"] = (
            max(0.0, (sys1 - sys0) - (cpu1 - cpu0) - (gcpu1 - gcpu0)) / boot["wall_s"]
        )
        boot["server_core_busy"] = (cpu1 - cpu0) / boot["wall_s"]
        boot["generator_core_busy"] = (gcpu1 - gcpu0) / boot["wall_s"]
        booted = boot["booted"]
        boot["boots_per_s"] = booted / boot["time_to_all_booted_s"] if booted else 0.0
        boot["server_cpu_us_per_boot"] = (cpu1 - cpu0) / booted * 1e6 if booted else None
        row["boot"] = boot
        row["status"] = "ok" if booted == n else "stopped"
        if booted < n:
            row["reason"] = _why(boot, n)
        say(
            f"  {kind.name:14s} boot   N={n:<6d} {booted}/{n} booted in "
            f"{boot['time_to_all_booted_s']:.2f} s ({boot['boots_per_s']:.0f}/s)"
            + f" busy: server {boot['server_core_busy']:.0%} generators "
            f"{boot['generator_core_busy']:.0%} other {boot['other_busy']:.0%}"
            + (f"  STOPPED: {row['reason']}" if booted < n else "")
        )
        if booted == 0:
            return row

        # Scenario 4: idle hold.
        cpu0 = server.cpu()
        time.sleep(profile.idle_settle)
        cpu1 = server.cpu()
        rss = server.rss()
        connected = server.request({"op": "count"}, 30)["connected"]
        row["idle"] = {
            "server_connected": connected,
            "rss": rss,
            "rss_per_charger": (rss - rss0) / max(1, booted),
            "server_cpu_s_per_s": (cpu1 - cpu0) / profile.idle_settle,
        }
        say(
            f"  {kind.name:14s} idle   N={n:<6d} {row['idle']['rss_per_charger'] / 1024:.1f} KiB/charger"
        )

        # Scenario 3: fan-out.
        rounds = []
        cpu0, gcpu0, t0 = server.cpu(), chargers.cpu(), time.perf_counter()
        for _ in range(profile.fanout_rounds):
            rounds.append(server.request({"op": "fanout", "timeout": 30}, 60))
            if time.perf_counter() - t0 > FANOUT_BUDGET_S:
                break
        cpu1, gcpu1, t1 = server.cpu(), chargers.cpu(), time.perf_counter()
        sent = sum(r["sent"] for r in rounds)
        times = sorted(r["elapsed"] for r in rounds)
        row["fanout"] = {
            "rounds": rounds,
            "targets": rounds[0]["sent"],
            "all_answered": all(r["answered"] == r["sent"] for r in rounds),
            "time_median_s": times[len(times) // 2],
            "time_max_s": times[-1],
            "server_cpu_us_per_call": (cpu1 - cpu0) / sent * 1e6 if sent else None,
            "generator_cpu_us_per_call": (gcpu1 - gcpu0) / sent * 1e6 if sent else None,
            "server_core_busy": (cpu1 - cpu0) / (t1 - t0),
            "generator_core_busy": (gcpu1 - gcpu0) / (t1 - t0),
        }
        say(
            f"  {kind.name:14s} fanout N={n:<6d} median {row['fanout']['time_median_s'] * 1000:.0f} ms"
            f" all answered: {row['fanout']['all_answered']}"
        )

        # Scenario 2 with every connected charger.
        row["steady"] = steady(server, chargers, profile)
        s = row["steady"]
        say(
            f"  {kind.name:14s} steady N={n:<6d} {s['calls_per_s']:9.0f} calls/s  "
            f"p99 {_ms(s['latency_s']['p99'])} ms  cpu {s['server_cpu_us_per_call'] or 0:.1f} us/call"
        )
        return row
    finally:
        if chargers is not None:
            chargers.close()
        server.stop()


def _why(boot: dict[str, Any], n: int) -> str:
    errs = ", ".join(f"{k} x{v}" for k, v in boot["errors"].items()) or "no error reported"
    return f"{boot['booted']}/{n} booted; {errs}"


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v * 1000:.3f}"


def run(
    servers: list[str],
    profile: Profile,
    out_dir: str,
    say: Any = print,
) -> dict[str, Any]:
    ncpu = len(os.sched_getaffinity(0))
    if ncpu >= 2:
        cores = sorted(os.sched_getaffinity(0))
        cpus: tuple = ({cores[0]}, {cores[1]})
        os.sched_setaffinity(0, cpus[1])  # the harness shares the generators' core
    else:
        cpus = (None, None)
    # Child stderr goes to a scratch directory, not next to the results that get committed.
    log_dir = os.path.join(tempfile.gettempdir(), "ocppfast-load-logs")
    os.makedirs(log_dir, exist_ok=True)
    for old in os.listdir(log_dir):  # logs of this run only
        if old.endswith(".log"):
            os.remove(os.path.join(log_dir, old))
    results: dict[str, Any] = {
        "machine": machine_info(cpus[0], cpus[1]),
        "profile": asdict(profile),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "servers": {},
    }
    load = os.getloadavg()
    results["machine"]["loadavg_at_start"] = load
    say(
        f"machine: {results['machine']['cpu_model']}, {results['machine']['cores']} cores; "
        f"pinning: {results['machine']['pinning']}; load average {load[0]:.2f}; "
        f"child logs in {log_dir}"
    )
    if load[0] > 0.5 * ncpu:
        say(
            "WARNING: the machine is busy with other work; figures will be noisy "
            "(see the 'other' busy column)"
        )
    t_run = time.perf_counter()
    try:
        say("small steady runs, servers interleaved:")
        try:
            small = run_small([SERVERS[name] for name in servers], profile, cpus, log_dir, say)
        except Exception as exc:  # noqa: BLE001 - recorded; the run goes on
            error = {"error": f"{type(exc).__name__}: {exc}"}
            small = {name: dict(error) for name in servers}
            say(f"  steady failed: {exc}")
        for name in servers:
            kind = SERVERS[name]
            entry: dict[str, Any] = {"label": kind.label, "steady_small": {}, "scale": {}}
            results["servers"][name] = entry
            say(f"{kind.label}:")
            entry["steady_small"] = small.get(name, {})
            stopped: str | None = None
            for n in profile.scale_ns:
                cap, why = scale_cap(kind, profile)
                if stopped is not None:
                    entry["scale"][str(n)] = {"n": n, "status": "not run", "reason": stopped}
                    continue
                if cap is not None and n > cap:
                    reason = f"capped at N={cap}: {why}"
                    entry["scale"][str(n)] = {"n": n, "status": "not run", "reason": reason}
                    say(f"  {name:14s} N={n}: not run ({reason})")
                    continue
                try:
                    row = run_scale(kind, n, profile, cpus, log_dir, say)
                except Exception as exc:  # noqa: BLE001 - recorded; the run goes on
                    row = {"n": n, "status": "failed", "reason": f"{type(exc).__name__}: {exc}"}
                    say(f"  {name:14s} N={n}: failed: {row['reason']}")
                entry["scale"][str(n)] = row
                if row["status"] != "ok":
                    stopped = f"stopped at N={n}: {row.get('reason')}"
    finally:
        stop_all()
    results["elapsed_s"] = time.perf_counter() - t_run
    results["machine"]["loadavg_at_end"] = os.getloadavg()
    return results
