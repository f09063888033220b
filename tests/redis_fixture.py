"""A real redis-server for the cluster tests: started in a temp dir, stopped by its own pid.

``RedisServer`` listens on a unix socket (no port race) or, with ``tcp=True``, on a free port
of 127.0.0.1 (or ``bind``, for the network-namespace tests). It can be stopped and started again
on the same address (Redis restarted mid-run). When redis-server is missing or cannot start, a
test that needs it is skipped with the reason locally and FAILS in CI (``CI=true``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REDIS_SERVER = shutil.which("redis-server") or (
    "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
)


def unavailable(reason: str) -> None:
    """Skip locally; in CI the cluster tests must run, so this is a failure there."""
    if IN_CI:
        pytest.fail(f"redis-server is required in CI: {reason}")
    pytest.skip(reason)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class RedisServer:
    def __init__(
        self, *, tcp: bool = False, bind: str = "127.0.0.1", netns: str | None = None
    ) -> None:
        if REDIS_SERVER is None:
            unavailable("redis-server not installed (Debian: apt-get install redis-server)")
        self.dir = tempfile.mkdtemp(prefix="ocf-redis-")
        self.tcp = tcp
        self.bind = bind
        self.netns = netns
        self.port = free_port() if tcp and netns is None else (6379 if tcp else 0)
        self.socket_path = os.path.join(self.dir, "redis.sock")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.tcp:
            return f"redis://{self.bind}:{self.port}/0"
        return f"unix://{self.socket_path}"

    def start(self, timeout: float = 10.0) -> RedisServer:
        assert REDIS_SERVER is not None
        cmd = [
            REDIS_SERVER,
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            self.dir,
            "--logfile",
            os.path.join(self.dir, "redis.log"),
        ]
        if self.tcp:
            cmd += ["--bind", self.bind, "--protected-mode", "no"]
        else:
            cmd += ["--unixsocket", self.socket_path, "--unixsocketperm", "700"]
        if self.netns is not None:
            cmd = ["ip", "netns", "exec", self.netns, *cmd]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                log = self.log()
                self.proc = None
                unavailable(f"redis-server exited at start: {err.strip()} {log[-500:]}")
            if self.ping():
                return self
            time.sleep(0.02)
        self.stop()
        unavailable("redis-server did not answer PING within 10 s")
        return self

    def log(self) -> str:
        try:
            with open(os.path.join(self.dir, "redis.log")) as f:
                return f.read()
        except OSError:
            return ""

    def ping(self) -> bool:
        try:
            if self.tcp:
                if self.netns is not None:
                    out = subprocess.run(
                        [
                            "ip",
                            "netns",
                            "exec",
                            self.netns,
                            "redis-cli",
                            "-h",
                            self.bind,
                            "-p",
                            str(self.port),
                            "PING",
                        ],
                        check=False,
                        capture_output=True,
                        timeout=2,
                    )
                    return out.stdout.strip() == b"PONG"
                s = socket.create_connection((self.bind, self.port), timeout=0.5)
            else:
                s = socket.socket(socket.AF_UNIX)
                s.settimeout(0.5)
                try:
                    s.connect(self.socket_path)
                except OSError:
                    s.close()  # not listening yet: no socket left for the GC to warn about
                    raise
            with s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except (OSError, subprocess.SubprocessError):
            return False

    def command(self, *args: str) -> Any:
        """A command through redis-py (the test side's own client)."""
        import redis

        if self.tcp:
            client = redis.Redis(host=self.bind, port=self.port)
        else:
            client = redis.Redis(unix_socket_path=self.socket_path)
        try:
            return client.execute_command(*args)
        finally:
            client.close()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def cleanup(self) -> None:
        self.stop(signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.cleanup()
