"""A lean asyncio Redis client for the cluster's hot path: RESP2 over one connection.

Why not redis-py's asyncio client for this: measured on this machine (unix socket, one command
at a time), redis-py 8.1 with hiredis spends about 140 us of CPU per command in Python, and a
remote call needs two commands (route + reply), far over the 150 us budget for the whole call.
This client packs commands with ``hiredis.pack_command`` and parses with ``hiredis.Reader`` (both
C); replies are matched to requests in FIFO order, so concurrent commands pipeline on the one
connection for free (``benchmarks/cluster/resp_overhead.py`` measures both clients).

A :class:`RespConnection` is either a command connection (``command()``) or, once
``subscribe()`` was called, a subscriber whose messages go to ``on_message`` (RESP2 pub/sub mode).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import hiredis

log = logging.getLogger("ocppfast.cluster")

__all__ = [
    "BlockingConnection",
    "RedisAddress",
    "RespConnection",
    "RespError",
    "parse_redis_url",
    "publish_head",
]


class RespError(Exception):
    """An error reply from Redis (``-ERR ...``), or the connection failed."""


@dataclass(frozen=True)
class RedisAddress:
    host: str | None
    port: int
    path: str | None  # unix socket
    db: int
    username: str | None
    password: str | None


def parse_redis_url(url: str) -> RedisAddress:
    """``redis://[[user]:password@]host[:port][/db]`` or ``unix:///path/to.sock[?db=N]``."""
    parts = urlsplit(url)
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    if parts.scheme == "unix":
        query = parse_qs(parts.query)
        db = int(query.get("db", ["0"])[0])
        return RedisAddress(None, 0, parts.path, db, user, password)
    if parts.scheme != "redis":
        raise ValueError(f"unsupported Redis URL {url!r}: use redis://host:port/db or unix:///path")
    db = int(parts.path.strip("/") or 0)
    return RedisAddress(parts.hostname or "127.0.0.1", parts.port or 6379, None, db, user, password)


class RespConnection(asyncio.Protocol):
    """One Redis connection; see the module docstring."""

    def __init__(self, on_lost: Callable[[RespConnection], None] | None = None) -> None:
        self._reader = hiredis.Reader(replyError=RespError)
        self._waiters: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._transport: asyncio.Transport | None = None
        self._on_lost = on_lost
        self.on_message: Callable[[bytes, bytes], None] | None = None
        # listen(): messages on that one channel go to on_payload, parsed without hiredis
        self._message_head: bytes | None = None
        self._message_skip = 0
        self.on_payload: Callable[[bytes], None] | None = None
        self.closed = False
        # Kept, not looked up per command: on Python 3.11 every asyncio.get_running_loop() is a
        # getpid() system call (strace showed two per routed call).
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    async def open(
        cls,
        address: RedisAddress,
        *,
        timeout: float = 2.0,
        on_lost: Callable[[RespConnection], None] | None = None,
    ) -> RespConnection:
        loop = asyncio.get_running_loop()
        conn = cls(on_lost)
        conn._loop = loop
        if address.path is not None:
            coro = loop.create_unix_connection(lambda: conn, address.path)
        else:
            coro = loop.create_connection(lambda: conn, address.host or "127.0.0.1", address.port)
        await asyncio.wait_for(coro, timeout)
        try:
            if address.password is not None:
                auth = (
                    [address.username, address.password] if address.username else [address.password]
                )
                await asyncio.wait_for(conn.command("AUTH", *auth), timeout)
            if address.db:
                await asyncio.wait_for(conn.command("SELECT", address.db), timeout)
        except BaseException:
            conn.close()
            raise
        return conn

    # --- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        head = self._message_head
        if head is not None and data.startswith(head) and not reader.has_data():
            # A subscriber's read is nearly always whole messages on its one channel:
            # ``*3 $7 message $n <channel> $m <payload>``, whose start is fixed, so they are
            # taken apart here (no list, no channel bytes); anything else, or a message cut by
            # the read, goes to hiredis from where this stopped.
            skip = self._message_skip
            eol = data.find(b"\r\n", skip)
            try:
                whole = skip < eol < skip + 11 and int(data[skip:eol]) == len(data) - eol - 4
            except ValueError:
                whole = False  # not a length: hiredis reports it
            if whole:  # exactly one message: the common case, one call at a time
                try:
                    self.on_payload(data[eol + 2 : -2])  # type: ignore[misc]
                except Exception:  # one bad message must not stop the reader
                    log.exception("cluster message failed")
                return
            on_payload = self.on_payload
            assert on_payload is not None
            skip = self._message_skip
            end = len(data)
            pos = 0
            while data[pos : pos + skip] == head:
                eol = data.find(b"\r\n", pos + skip)
                if eol < 0:
                    break
                start = eol + 2
                try:
                    stop = start + int(data[pos + skip : eol])
                except ValueError:
                    break  # not a length: hiredis reports it
                if stop + 2 > end:
                    break  # cut by the read
                pos = stop + 2
                try:
                    on_payload(data[start:stop])
                except Exception:  # one bad message must not stop the reader
                    log.exception("cluster message failed")
                if pos == end:
                    return
            if pos:
                data = data[pos:]
        reader.feed(data)
        waiters = self._waiters
        on_message = self.on_message
        on_payload = self.on_payload
        subscriber = on_message is not None or on_payload is not None
        while True:
            reply = reader.gets()
            if reply is False:
                return
            if subscriber and type(reply) is list and reply and reply[0] == b"message":
                try:
                    if on_payload is not None:
                        on_payload(reply[2])
                    elif on_message is not None:
                        on_message(reply[1], reply[2])
                except Exception:  # one bad message must not stop the reader
                    log.exception("cluster message failed")
                continue
            if not waiters:
                continue  # subscribe confirmations after a reconnect, pongs
            fut = waiters.popleft()
            if fut.done():
                continue
            if isinstance(reply, RespError):
                fut.set_exception(reply)
            else:
                fut.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._transport = None
        waiters, self._waiters = self._waiters, collections.deque()
        for fut in waiters:
            if not fut.done():
                fut.set_exception(RespError(f"Redis connection lost: {exc or 'closed'}"))
        if self._on_lost is not None:
            self._on_lost(self)

    # --- commands ------------------------------------------------------------------------

    def command(self, *args: Any) -> asyncio.Future[Any]:
        """Send one command; the future gets its reply (a ``RespError`` reply is raised)."""
        loop = self._loop or asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        transport = self._transport
        if transport is None or self.closed:
            fut.set_exception(RespError("Redis connection is closed"))
            return fut
        self._waiters.append(fut)
        transport.write(hiredis.pack_command(args))
        return fut

    def send_only(self, *args: Any) -> bool:
        """Send a command whose reply nobody waits for (it is still consumed in order)."""
        transport = self._transport
        if transport is None or self.closed:
            return False
        fut: asyncio.Future[Any] = (self._loop or asyncio.get_running_loop()).create_future()
        fut.add_done_callback(_consume)
        self._waiters.append(fut)
        transport.write(hiredis.pack_command(args))
        return True

    def listen(self, channel: bytes, on_payload: Callable[[bytes], None]) -> None:
        """Hand the messages of ``channel`` (subscribe to it, and to nothing else) to
        ``on_payload(message)``."""
        self._message_head = b"*3\r\n$7\r\nmessage\r\n$%d\r\n%b\r\n$" % (len(channel), channel)
        self._message_skip = len(self._message_head)
        self.on_payload = on_payload

    def replies_off(self) -> None:
        """``CLIENT REPLY OFF``: from now on Redis answers nothing on this connection, so
        :meth:`fire` costs neither side a reply (no write for Redis, no wake-up for us)."""
        self.fire("CLIENT", "REPLY", "OFF")

    def fire(self, *args: Any) -> bool:
        """Send a command on a connection whose replies are off (see :meth:`replies_off`)."""
        transport = self._transport
        if transport is None or self.closed:
            return False
        transport.write(hiredis.pack_command(args))
        return True

    def fire_packed(self, head: bytes, last: bytes) -> bool:
        """:meth:`fire` for a command packed by hand: ``head`` from :func:`publish_head`, then
        ``last`` as its last argument (half the CPU of ``hiredis.pack_command``, which formats
        every length with sprintf)."""
        transport = self._transport
        if transport is None or self.closed:
            return False
        n = len(last)
        transport.write(
            b"".join((head, _BULK_HEADS[n] if n < _BULK_CACHED else b"$%d\r\n" % n, last, _CRLF))
        )
        return True

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


_CRLF = b"\r\n"
_BULK_CACHED = 4096
#: "$<n>\r\n" for every n below _BULK_CACHED (bytes % formatting costs more than the rest of
#: a PUBLISH's packing together)
_BULK_HEADS = [b"$%d\r\n" % n for n in range(_BULK_CACHED)]


def publish_head(channel: bytes) -> bytes:
    """RESP of ``PUBLISH <channel>`` without the message: see :meth:`RespConnection.fire_packed`."""
    return b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%b\r\n" % (len(channel), channel)


class BlockingConnection:
    """A plain blocking Redis connection for a thread (the lease keeper): it keeps working when
    the event loop is too busy to read its sockets for a while."""

    def __init__(self, address: RedisAddress, timeout: float) -> None:
        self.address = address
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._reader = hiredis.Reader(replyError=RespError)

    def _connect(self) -> socket.socket:
        a = self.address
        if a.path is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            sock.connect(a.path)
        else:
            sock = socket.create_connection((a.host or "127.0.0.1", a.port), self.timeout)
        sock.settimeout(self.timeout)
        self._sock = sock
        self._reader = hiredis.Reader(replyError=RespError)
        if a.password is not None:
            self.pipeline([("AUTH", *([a.username] if a.username else []), a.password)])
        if a.db:
            self.pipeline([("SELECT", a.db)])
        return sock

    def pipeline(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Send the commands at once, return their replies (an error reply is raised)."""
        sock = self._sock or self._connect()
        try:
            sock.sendall(b"".join(hiredis.pack_command(c) for c in commands))
            replies: list[Any] = []
            while len(replies) < len(commands):
                reply = self._reader.gets()
                if reply is False:
                    data = sock.recv(65536)
                    if not data:
                        raise OSError("Redis closed the connection")
                    self._reader.feed(data)
                    continue
                replies.append(reply)
        except BaseException:
            self.close()
            raise
        for reply in replies:
            if isinstance(reply, RespError):
                raise reply
        return replies

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None


def _consume(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()
