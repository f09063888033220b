"""The control channel between the harness and its child processes: one JSON object per line.

The harness writes ``{"op": ..., ...}`` to a child's stdin and reads one reply line from its
stdout; the child's stderr is left for logs. A child exits when its stdin closes, so it never
outlives the harness; the harness also starts each child in its own process group with
``PR_SET_PDEATHSIG`` and kills the group on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

# ---------------------------------------------------------------- child side

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def send_line(obj: Mapping[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


async def serve_commands(handlers: Mapping[str, Handler]) -> None:
    """Answer commands from stdin until ``{"op": "quit"}`` or EOF. Each handler's dict is the reply."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            return
        cmd = json.loads(line)
        op = cmd.get("op")
        if op == "quit":
            send_line({"ok": True})
            return
        handler = handlers.get(op)
        if handler is None:
            send_line({"ok": False, "error": f"unknown op {op!r}"})
            continue
        try:
            reply = await handler(cmd)
            reply.setdefault("ok", True)
        except Exception as exc:  # noqa: BLE001 - reported to the harness, which decides
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        send_line(reply)


def run_child(main: Callable[[], Awaitable[None]]) -> None:
    """Run a child's async main on uvloop (every process of the run uses the same loop)."""
    import uvloop

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvloop.run(main())


# ---------------------------------------------------------------- harness side

_PR_SET_PDEATHSIG = 1
_children: list[ControlledProcess] = []


def _die_with_parent() -> None:
    # Not Linux (no prctl): the stdin-EOF rule and killpg still apply.
    with contextlib.suppress(AttributeError, OSError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class ChildError(RuntimeError):
    pass


class ControlledProcess:
    """A child started with ``python -m <module>``, pinned to ``cpus``, driven over stdin/stdout."""

    def __init__(
        self,
        module: str,
        args: list[str] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        cpus: set[int] | None = None,
        cwd: str | None = None,
        stderr_path: str | None = None,
    ) -> None:
        full_env = dict(os.environ)
        full_env.update(env or {})
        full_env["PYTHONUNBUFFERED"] = "1"
        self.module = module
        self._stderr = open(stderr_path or os.devnull, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *(args or [])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=full_env,
            cwd=cwd,
            start_new_session=True,  # own process group: killpg reaches everything it starts
            # Only prctl between fork and exec; Popen is called from the main thread.
            preexec_fn=_die_with_parent,  # noqa: PLW1509
        )
        self.pid = self.proc.pid
        if cpus:
            os.sched_setaffinity(self.pid, cpus)
        self._lines: queue.Queue[bytes] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        _children.append(self)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(b"")  # EOF marker

    def read(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise ChildError(f"{self.module}: no reply within {timeout:.0f} s") from None
        if not line:
            raise ChildError(f"{self.module}: exited (code {self.proc.poll()})")
        return json.loads(line)  # type: ignore[no-any-return]

    def send(self, cmd: Mapping[str, Any]) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(cmd).encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise ChildError(f"{self.module}: control pipe closed ({exc})") from None

    def request(self, cmd: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        self.send(cmd)
        return self.read(timeout)

    def stop(self, grace: float = 3.0) -> None:
        """Ask to quit, then SIGTERM and SIGKILL the process group; always reaps."""
        if self.proc.poll() is None:
            try:
                self.send({"op": "quit"})
                self.proc.wait(timeout=grace)
            except (ChildError, subprocess.TimeoutExpired):
                pass
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        # A group member may outlive the leader: one last sweep.
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=grace)
        self._stderr.close()
        if self in _children:
            _children.remove(self)


def stop_all() -> None:
    """Stop every child still running (each removes itself from the list)."""
    while _children:
        child = _children.pop()
        try:
            child.stop(grace=1.0)
        except (OSError, subprocess.SubprocessError, ChildError) as exc:
            print(f"load harness: could not stop {child.module}: {exc}", file=sys.stderr)


def wait_all(children: list[ControlledProcess], timeout: float) -> list[dict[str, Any]]:
    """Read one reply from each child, within one overall deadline."""
    deadline = time.monotonic() + timeout
    return [c.read(max(0.1, deadline - time.monotonic())) for c in children]
