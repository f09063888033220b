"""Several hosts: network namespaces joined by veth pairs to a bridge, a worker per namespace,
Redis in its own, stations and the caller in a third; one host's link cut and restored.

Root only (``ip netns``); skipped with the reason otherwise. Addresses (10.231.<n>.0/24) exist
only on veths inside namespaces this test creates; nothing is routed anywhere else, and every
namespace is deleted at the end, also on failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import msgspec
import pytest

from tests.redis_fixture import RedisServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOSTS = ("h1", "h2", "r", "c")  # two workers, Redis, stations + callers
ADDR = {"h1": 1, "h2": 2, "r": 4, "c": 9}


def _sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=10)


class Lab:
    def __init__(self) -> None:
        self.tag = f"{os.getpid() % 10000:04d}"
        self.net = f"10.231.{os.getpid() % 200 + 20}"
        self.ns = {h: f"ocf{self.tag}{h}" for h in (*HOSTS, "sw")}
        self.procs: list[subprocess.Popen[str]] = []

    def addr(self, host: str) -> str:
        return f"{self.net}.{ADDR[host]}"

    def veth(self, host: str) -> str:
        return f"v{self.tag}{host}"

    def up(self) -> None:
        for ns in self.ns.values():
            _sh("ip", "netns", "add", ns)
            _sh("ip", "-n", ns, "link", "set", "lo", "up")
        sw = self.ns["sw"]
        _sh("ip", "-n", sw, "link", "add", "br0", "type", "bridge")
        _sh("ip", "-n", sw, "link", "set", "br0", "up")
        for host in HOSTS:
            inside, outside = self.veth(host), f"s{self.tag}{host}"
            _sh(
                "ip",
                "link",
                "add",
                inside,
                "netns",
                self.ns[host],
                "type",
                "veth",
                "peer",
                "name",
                outside,
                "netns",
                sw,
            )
            _sh("ip", "-n", sw, "link", "set", outside, "master", "br0", "up")
            _sh("ip", "-n", self.ns[host], "addr", "add", f"{self.addr(host)}/24", "dev", inside)
            _sh("ip", "-n", self.ns[host], "link", "set", inside, "up")

    def link(self, host: str, state: str) -> None:
        _sh("ip", "-n", self.ns[host], "link", "set", self.veth(host), state)

    def spawn(self, host: str, *args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns[host], sys.executable, "-m", "ocppfast", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.procs.append(proc)
        return proc

    def run(self, host: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.ns[host], sys.executable, "-m", "ocppfast", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def down(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        for ns in self.ns.values():
            subprocess.run(["ip", "netns", "pids", ns], capture_output=True, check=False)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


@pytest.fixture
def lab() -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip("needs root: network namespaces (ip netns) for the several-hosts test")
    if shutil.which("ip") is None:
        pytest.skip("needs iproute2 (ip netns) for the several-hosts test")
    lab = Lab()
    try:
        lab.up()
    except (subprocess.CalledProcessError, OSError) as exc:
        lab.down()
        err = getattr(exc, "stderr", b"") or b""
        pytest.skip(f"network namespaces unavailable here: {exc} {err.decode(errors='replace')}")
    try:
        yield lab
    finally:
        lab.down()


def _ready(proc: subprocess.Popen[str], timeout: float = 20) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if " ready pid=" in line:
            return line
    raise AssertionError("worker not ready:\n" + "".join(seen))


def _call(lab: Lab, host: str, redis: str, identity: str, timeout: float = 2) -> int:
    out = lab.run(
        host,
        "cluster",
        "call",
        "--redis",
        redis,
        "--timeout",
        str(timeout),
        identity,
        "Reset",
        '{"type": "Soft"}',
    )
    return out.returncode


def test_hosts_in_namespaces_route_calls_and_survive_a_cut_link(lab: Lab) -> None:
    redis = RedisServer(tcp=True, bind=lab.addr("r"), netns=lab.ns["r"])
    redis.start()
    try:
        url = f"redis://{lab.addr('r')}:6379/0"
        for h in ("h1", "h2"):
            w = lab.spawn(
                h,
                "serve",
                "--redis",
                url,
                "--host",
                lab.addr(h),
                "--port",
                "9000",
                "--workers",
                "1",
                "--lease-ttl",
                "2",
                "--quiet",
            )
            _ready(w)
        for h in ("h1", "h2"):
            lab.spawn(
                "c",
                "simulate",
                "--url",
                f"ws://{lab.addr(h)}:9000/ocpp",
                "--chargers",
                "3",
                "--duration",
                "120",
                "--interval",
                "1",
                "--prefix",
                f"{h.upper()}-",
                "--quiet",
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            st = lab.run("c", "cluster", "status", "--redis", url, "--json")
            if st.returncode == 0 and msgspec.json.decode(st.stdout)["stations"] == 6:
                break
            time.sleep(0.3)
        else:
            raise AssertionError(f"stations not all present: {st.stdout} {st.stderr}")
        # calls routed across hosts: from the stations' host and from a worker host
        assert _call(lab, "c", url, "H1-000000") == 0
        assert _call(lab, "h2", url, "H1-000001") == 0
        assert _call(lab, "h1", url, "H2-000002") == 0
        # cut h1's link: its stations become unavailable (after its lease), h2's stay callable
        lab.link("h1", "down")
        cut = time.monotonic()
        codes = []
        while time.monotonic() - cut < 10:
            code = _call(lab, "c", url, "H1-000000", timeout=1)
            codes.append(code)
            if code == 4:
                break
        assert codes[-1] == 4, codes  # node unavailable, not a hang
        assert time.monotonic() - cut < 8
        assert _call(lab, "c", url, "H2-000000") == 0
        # restore: h1 re-registers its stations (their connections survived the cut)
        lab.link("h1", "up")
        back = time.monotonic()
        while time.monotonic() - back < 15:
            if _call(lab, "c", url, "H1-000000", timeout=1) == 0:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("h1's stations not callable again after the link came back")
        st = lab.run("c", "cluster", "status", "--redis", url, "--json")
        assert msgspec.json.decode(st.stdout)["stations"] == 6
    finally:
        redis.cleanup()
