"""Cluster: presence and call routing for a CentralSystem across processes and hosts, via Redis.

Each node (a process) has an id, a lease in Redis renewed every ``lease_ttl / 3`` seconds, and a
pub/sub channel. A station that connects is claimed (identity -> node, fencing token, version);
``call`` takes the local fast path when the station is here, else one Lua script looks up the
owner and publishes the CALL to its channel in the same round trip; the owner sends it on the
station's connection and publishes the outcome back to the caller's channel.

Faults (see docs/cluster.md for the full table):

- owner gone (no lease, or nobody subscribed to its channel): ``NodeUnavailableError`` at once;
  calls already in flight to it fail within ``liveness_interval``;
- Redis unreachable: local stations and local calls go on untouched; remote calls raise
  ``ClusterUnavailableError`` at once; when Redis is back the node subscribes again, renews its
  lease and re-asserts every station it holds (conditionally: a newer owner elsewhere wins and
  the local copy is closed);
- a station reconnecting to another node: that node's claim returns the previous owner, which is
  told to close its (older) connection;
- a CALL is delivered at most once: nothing is retried, and an owner drops a routed CALL whose
  caller has given up already.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

import msgspec

from .. import versions as versions_mod
from ..charge_point import ChargePoint, action_of
from ..engine import CLOSE_NORMAL, CLOSE_POLICY_VIOLATION, CallGroup
from ..errors import (
    CallResultError,
    CallTimeoutError,
    ConnectionClosedError,
    NotConnectedError,
    OCPPError,
    PayloadError,
    from_call_error,
)
from ..validation import outgoing_error
from . import _proto as proto
from ._resp import (
    BlockingConnection,
    RedisAddress,
    RespConnection,
    RespError,
    parse_redis_url,
    publish_head,
)
from ._scripts import SCRIPTS, Keys

if TYPE_CHECKING:
    from ..server import CentralSystem

log = logging.getLogger("ocppfast.cluster")

__all__ = [
    "Cluster",
    "ClusterUnavailableError",
    "NodeInfo",
    "NodeUnavailableError",
    "StationLocation",
]

REASSERT_BATCH = 500
MANY_CHUNK = 1000  # outcomes per Results message of a fan-out
MANY_FLUSH = 0.1  # seconds between the Results of a fan-out still running
_json_encode = msgspec.json.Encoder().encode
# hot-path names, bound once
_encode = proto.encode
_Call = proto.Call
_Result = proto.Result
_RESULT = proto.RESULT
_Raw = msgspec.Raw
_wall = time.time


class NodeUnavailableError(ConnectionClosedError):
    """The node that holds the station is gone (no lease, or not listening on its channel)."""

    def __init__(self, message: str, node: str = "") -> None:
        super().__init__(message)
        self.node = node


class ClusterUnavailableError(ConnectionClosedError):
    """Redis cannot be reached: a station on another node cannot be called right now."""


class _NotHereError(ConnectionClosedError):
    """The node a cached route named does not hold the station (any more): route again."""


@dataclass(frozen=True)
class NodeInfo:
    id: str
    stations: int
    alive: bool
    host: str = ""
    pid: int = 0
    started: float = 0.0


@dataclass(frozen=True)
class StationLocation:
    identity: str
    node: str
    subprotocol: str
    token: int
    alive: bool  # the node's lease exists
    local: bool  # held by this node


class _NodeInfoJSON(msgspec.Struct):
    host: str = ""
    pid: int = 0
    started: float = 0.0


def _default_node_id() -> str:
    host = "".join(c if c.isalnum() or c in "-." else "-" for c in socket.gethostname())
    return f"{host or 'node'}-{os.getpid()}-{os.urandom(3).hex()}"


def _encode_details(details: dict[str, Any]) -> bytes:
    try:
        return msgspec.json.encode(details)
    except (TypeError, msgspec.EncodeError):
        return b"{}"


def outcome_of(exc: BaseException) -> tuple[int, str, str, bytes]:
    """(kind, code, description, body) for an exception raised by a call on the owner."""
    if isinstance(exc, CallResultError):
        return proto.RESULT_ERROR, exc.code, exc.description, _encode_details(exc.details)
    if isinstance(exc, OCPPError):
        return proto.ERROR, exc.code, exc.description, _encode_details(exc.details)
    if isinstance(exc, CallTimeoutError):
        return proto.TIMEOUT, "", exc.unique_id, msgspec.json.encode(exc.timeout)
    if isinstance(exc, ConnectionClosedError):
        return proto.CLOSED, "", str(exc), b""
    if isinstance(exc, PayloadError):
        return proto.PAYLOAD, exc.code, exc.description, b""
    if isinstance(exc, ValueError):
        return proto.VALUE, "", str(exc), b""
    if isinstance(exc, TypeError):
        return proto.TYPE, "", str(exc), b""
    log.error("routed call failed", exc_info=exc)
    return proto.INTERNAL, "", "internal error on the owning node", b""


def _failed_result(rid: int, subprotocol: str, exc: BaseException) -> proto.Result:
    kind, code, desc, body = outcome_of(exc)
    return proto.Result(rid, kind, subprotocol, body, code, desc)


def exception_of(
    kind: int, code: str, description: str, body: bytes, action: str, identity: str
) -> BaseException:
    """The exception a local call would have raised, from a routed call's outcome."""
    if kind in (proto.ERROR, proto.RESULT_ERROR):
        try:
            details = msgspec.json.decode(body) if body else {}
        except msgspec.DecodeError:
            details = {}
        err = from_call_error(code, description, details if isinstance(details, dict) else {})
        return CallResultError(err) if kind == proto.RESULT_ERROR else err
    if kind == proto.TIMEOUT:
        try:
            timeout = float(msgspec.json.decode(body)) if body else 0.0
        except (msgspec.DecodeError, TypeError, ValueError):
            timeout = 0.0
        return CallTimeoutError(action, description, timeout)
    if kind == proto.CLOSED:
        return ConnectionClosedError(description or f"{identity!r} is not connected")
    if kind == proto.NOT_HERE:
        return _NotHereError(description or f"{identity!r} is not connected")
    if kind == proto.PAYLOAD:
        return PayloadError(description, code or "FormatViolation")
    if kind == proto.VALUE:
        return ValueError(description)
    if kind == proto.TYPE:
        return TypeError(description)
    return RuntimeError(description)


class _LocalEntry:
    """A station held by this node: its connection and its fencing token once claimed."""

    __slots__ = ("cp", "evict_above", "token")

    def __init__(self, cp: ChargePoint) -> None:
        self.cp = cp
        self.token: int | None = None
        self.evict_above = 0  # an eviction that arrived before our claim's answer


class _Pending(msgspec.Struct):
    """A routed call waiting for its result (a Struct: made in C, no ``__init__`` frame).
    ``deadline`` (``loop.time()``) is checked by the liveness sweep, not by a timer per call."""

    fut: asyncio.Future[Any]
    action: str
    node: str
    identity: str
    deadline: float
    timeout: float


class _Reply(msgspec.Struct):
    """Where a station's answer to a routed call goes (``Engine.call_into`` takes any object
    with ``done``/``set_result``/``set_exception``): published to the caller's channel at once."""

    cluster: Cluster
    head: bytes  # the packed "PUBLISH <the caller's channel>"
    rid: int
    subprotocol: str
    finished: bool = False

    def done(self) -> bool:
        return self.finished

    def set_result(self, value: Any) -> None:
        self.finished = True
        pub = self.cluster._pub  # None while Redis is away: the caller's call fails there
        if pub is not None:
            data = _encode(_Result(self.rid, _RESULT, self.subprotocol, _json_encode(value)))
            pub.fire_packed(self.head, data)

    def set_exception(self, exc: BaseException) -> None:
        self.finished = True
        pub = self.cluster._pub
        if pub is not None:
            pub.fire_packed(self.head, _encode(_failed_result(self.rid, self.subprotocol, exc)))


class _PendingMany:
    __slots__ = ("action", "done", "node", "on_item", "results")

    def __init__(self, action: str, node: str, on_item: Callable[[], None] | None) -> None:
        self.action = action
        self.node = node
        self.results: dict[str, Any] = {}
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.on_item = on_item


class Cluster:
    """Presence and routing for ``central_system`` (``None``: a client-only node).

    ::

        cs = ocppfast.CentralSystem(...)
        await cs.start("0.0.0.0", 9000, reuse_port=True)
        cluster = await Cluster(cs, redis_url="redis://redis:6379/0").start()
        await cluster.call("CP-7", "Reset", {"type": "Soft"})    # wherever CP-7 is connected

    The handlers of the central system are untouched; stations are claimed when they connect
    and released when they leave.
    """

    def __init__(
        self,
        central_system: CentralSystem | None,
        *,
        redis_url: str,
        prefix: str = "ocf:",
        node_id: str | None = None,
        lease_ttl: float = 10.0,
        call_grace: float = 2.0,
        call_timeout: float | None = None,
        liveness_interval: float = 0.25,
        connect_timeout: float = 2.0,
        reconnect_max: float = 2.0,
        duplicate_identity: str | None = None,
    ) -> None:
        if lease_ttl < 1.0:
            raise ValueError("lease_ttl must be at least 1 second")
        if duplicate_identity not in (None, "replace", "reject"):
            raise ValueError("duplicate_identity must be 'replace' or 'reject'")
        self.cs = central_system
        self.redis_url = redis_url
        self._address: RedisAddress = parse_redis_url(redis_url)
        self.keys = Keys(prefix)
        self.node_id = node_id or _default_node_id()
        if "|" in self.node_id:
            raise ValueError("a node id must not contain '|'")
        self.lease_ttl = lease_ttl
        self.call_grace = call_grace
        self.call_timeout = (
            call_timeout
            if call_timeout is not None
            else (central_system.call_timeout if central_system is not None else 30.0)
        )
        self.liveness_interval = liveness_interval
        self.connect_timeout = connect_timeout
        self.reconnect_max = reconnect_max
        self.started = time.time()
        self._info = msgspec.json.encode(
            _NodeInfoJSON(host=socket.gethostname(), pid=os.getpid(), started=self.started)
        )
        #: the lease keeper skips renewals when the event loop showed no life for this long
        self.stall_limit = max(30.0, 3 * lease_ttl)
        self._loop_seen = time.monotonic()
        self._lapsed = False
        self._keeper: threading.Thread | None = None
        self._keeper_stop = threading.Event()
        self._channel = self.keys.channel(self.node_id).encode()
        self._local: dict[str, _LocalEntry] = {}
        self._pending: dict[int, _Pending] = {}
        self._pending_many: dict[int, _PendingMany] = {}
        self._rid = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cmd: RespConnection | None = None
        self._sub: RespConnection | None = None
        self._pub: RespConnection | None = None  # replies off: results and evictions
        self._sha: dict[str, str] = {}
        self._online = False
        self._lost: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._registries: dict[str, dict[str, Any]] = {}
        self._valid: dict[Any, bytes] = {}  # message type -> last routed payload that passed
        self._many_tasks: set[asyncio.Task[None]] = set()
        # identity -> node, learnt from the route script: later calls PUBLISH straight to that
        # node's channel (half of Redis' CPU per call: no script); a stale entry costs one
        # NOT_HERE answer (nothing was sent to any station) and a second, scripted, route.
        self._routes: dict[str, str] = {}
        self._publish_heads: dict[str, bytes] = {}  # node -> packed "PUBLISH <its channel>"
        self.online_event: asyncio.Event | None = None
        #: A station connecting with an identity already connected, here or on another node:
        #: "replace" closes the older connection (the newest wins); "reject" keeps it and
        #: refuses the new one (HTTP 409 by the central system when the identity is here; a
        #: connection on another node is closed with 1008 once its claim finds a live owner,
        #: as the handshake is answered before Redis can be asked). None: the central
        #: system's own ``duplicate_identity``, else it is set to this.
        if central_system is not None:
            if duplicate_identity is None:
                duplicate_identity = central_system.duplicate_identity
            central_system.duplicate_identity = duplicate_identity
        self.duplicate_identity: str = duplicate_identity or "replace"
        self._claim_script = "claim_if_free" if self.duplicate_identity == "reject" else "claim"
        if central_system is not None:
            central_system.watch_registry(self._station_connected, self._station_disconnected)

    @classmethod
    async def client(cls, redis_url: str, **options: Any) -> Cluster:
        """A node that holds no stations (an API or admin process); raises
        ``ClusterUnavailableError`` when Redis cannot be reached."""
        return await cls(None, redis_url=redis_url, **options).start(require_redis=True)

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def online(self) -> bool:
        """Connected to Redis (remote calls possible)."""
        return self._online

    async def start(self, *, require_redis: bool = False) -> Cluster:
        """Connect to Redis, subscribe, take the lease and claim the stations already here.

        When Redis is unreachable the node still runs (local traffic needs no Redis) and keeps
        trying in the background, unless ``require_redis`` (then ``ClusterUnavailableError``).
        """
        self._loop = asyncio.get_running_loop()
        self._lost = asyncio.Event()
        self.online_event = asyncio.Event()
        if self.cs is not None:
            for cp in list(self.cs.charge_points.values()):
                self._local[cp.identity] = _LocalEntry(cp)
        try:
            await self._go_online()
        except (OSError, RespError, TimeoutError) as exc:
            self._drop_connections()
            if require_redis:
                raise ClusterUnavailableError(
                    f"Redis at {self.redis_url} is unreachable: {exc}"
                ) from None
            log.warning("Redis at %s unreachable (%s); retrying", self.redis_url, exc)
        self._tasks.append(asyncio.create_task(self._maintain()))
        self._tasks.append(asyncio.create_task(self._liveness()))
        self._keeper = threading.Thread(
            target=self._keep_lease,
            args=(asyncio.get_running_loop(), self._keeper_stop),
            name=f"ocppfast-lease-{self.node_id}",
            daemon=True,
        )
        self._keeper.start()
        return self

    async def close(self) -> None:
        """Leave the cluster: release the stations held here, drop the lease, disconnect."""
        self._closing = True
        self._keeper_stop.set()
        if self._keeper is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._keeper.join, 5.0)
            self._keeper = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self.cs is not None:
            self.cs.watch_registry(self._station_connected, self._station_disconnected, stop=True)
        cmd = self._cmd
        if self._online and cmd is not None:
            k = self.keys
            try:
                futs = [
                    cmd.command(
                        "EVALSHA", self._sha["release"], 0, k.prefix, ident, self.node_id, e.token
                    )
                    for ident, e in self._local.items()
                    if e.token is not None
                ]
                futs.append(cmd.command("DEL", k.lease(self.node_id)))
                futs.append(cmd.command("SREM", k.nodes, self.node_id))
                await asyncio.wait_for(asyncio.gather(*futs, return_exceptions=True), 2.0)
            except (TimeoutError, RespError, OSError):
                pass
        self._drop_connections()
        self._fail_all_pending(ClusterUnavailableError("cluster node closed"))

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _drop_connections(self) -> None:
        was_online = self._online
        self._online = False
        if self.online_event is not None:
            self.online_event.clear()
        for conn in (self._cmd, self._sub, self._pub):
            if conn is not None:
                conn._on_lost = None
                conn.close()
        self._cmd = self._sub = self._pub = None
        if was_online:
            self._fail_all_pending(
                ClusterUnavailableError(f"lost the connection to Redis at {self.redis_url}")
            )

    def _connection_lost(self, conn: RespConnection) -> None:
        if self._lost is not None and not self._closing:
            self._lost.set()

    async def _go_online(self) -> None:
        addr = self._address
        t = self.connect_timeout
        cmd = await RespConnection.open(addr, timeout=t, on_lost=self._connection_lost)
        self._cmd = cmd
        sub = await RespConnection.open(addr, timeout=t, on_lost=self._connection_lost)
        self._sub = sub
        sub.listen(self._channel, self._on_message)
        pub = await RespConnection.open(addr, timeout=t, on_lost=self._connection_lost)
        pub.replies_off()
        self._pub = pub
        shas = await asyncio.wait_for(
            asyncio.gather(*(cmd.command("SCRIPT", "LOAD", src) for src in SCRIPTS.values())), t
        )
        self._sha = {name: sha.decode() for name, sha in zip(SCRIPTS, shas)}
        await asyncio.wait_for(sub.command("SUBSCRIBE", self._channel), t)
        await asyncio.wait_for(self._renew_lease(), t)
        self._online = True
        assert self.online_event is not None
        self.online_event.set()
        await self._reassert_all()
        log.info("cluster node %s online (%d local stations)", self.node_id, len(self._local))

    async def _maintain(self) -> None:
        """Heartbeat while online; reconnect with backoff while not."""
        assert self._lost is not None
        backoff = 0.05
        beat = self.lease_ttl / 3
        while not self._closing:
            if not self._online:
                try:
                    self._lost.clear()
                    await self._go_online()
                    backoff = 0.05
                    continue
                except (OSError, RespError, TimeoutError) as exc:
                    log.debug("Redis still unreachable: %s", exc)
                    self._drop_connections()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.reconnect_max)
                    continue
            self._loop_seen = time.monotonic()
            try:
                await asyncio.wait_for(self._lost.wait(), beat)
            except TimeoutError:
                pass
            self._loop_seen = time.monotonic()
            if self._lost.is_set():
                log.warning("cluster node %s lost Redis; local traffic goes on", self.node_id)
                self._drop_connections()
                continue
            if self._lapsed:
                self._lapsed = False
                log.warning("lease of %s had lapsed; re-asserting stations", self.node_id)
                try:
                    await self._reassert_all()
                except (RespError, OSError) as exc:
                    log.warning("re-assert failed (%s); reconnecting to Redis", exc)
                    self._drop_connections()
                    continue
            # The lease itself is renewed by the keeper thread; a janitor reply that comes late
            # (a busy loop) is no reason to drop the connections: the keeper judges Redis.
            with contextlib.suppress(RespError, TimeoutError, OSError):
                await asyncio.wait_for(self._janitor(), self.lease_ttl / 2)

    def _keep_lease(self, loop: asyncio.AbstractEventLoop, stop: threading.Event) -> None:
        """Thread: renew the lease every ``lease_ttl / 3`` on a blocking connection of its own.

        A thread, not a task: a fan-out to thousands of stations can keep the event loop from
        reading a reply for seconds, and the lease must not lapse for that. It renews only while
        the node is online and its loop showed a sign of life within ``stall_limit`` (a hung
        loop lets the lease lapse). When Redis does not answer within half the lease, the loop is
        told to drop its connections and reconnect.
        """
        conn = BlockingConnection(self._address, self.lease_ttl / 2)
        beat = self.lease_ttl / 3
        key, nodes = self.keys.lease(self.node_id), self.keys.nodes
        ttl_ms = int(self.lease_ttl * 1000)
        try:
            while not stop.wait(beat):
                if not self._online or time.monotonic() - self._loop_seen > self.stall_limit:
                    continue
                try:
                    previous, _ = conn.pipeline(
                        [
                            ("SET", key, self._info, "PX", ttl_ms, "GET"),
                            ("SADD", nodes, self.node_id),
                        ]
                    )
                except (OSError, RespError) as exc:
                    log.warning("lease renewal failed: %s", exc)
                    loop.call_soon_threadsafe(self._redis_failed)
                    continue
                if previous is None:
                    loop.call_soon_threadsafe(self._lease_lapsed)
        except RuntimeError:  # the loop closed under us
            pass
        finally:
            conn.close()

    def _redis_failed(self) -> None:
        if self._lost is not None and not self._closing and self._online:
            self._lost.set()

    def _lease_lapsed(self) -> None:
        self._lapsed = True

    async def _renew_lease(self) -> bool:
        """Take or renew the lease; True when it had lapsed (presence may have been cleaned)."""
        assert self._cmd is not None
        ttl_ms = int(self.lease_ttl * 1000)
        previous, _ = await asyncio.gather(
            self._cmd.command(
                "SET", self.keys.lease(self.node_id), self._info, "PX", ttl_ms, "GET"
            ),
            self._cmd.command("SADD", self.keys.nodes, self.node_id),
        )
        return previous is None

    async def _janitor(self) -> None:
        """One node at a time removes the presence entries of nodes whose lease is gone."""
        cmd = self._cmd
        assert cmd is not None
        k = self.keys
        got = await cmd.command(
            "SET", k.janitor, self.node_id, "NX", "PX", int(self.lease_ttl * 1000 / 3)
        )
        if got is None:
            return
        nodes = [n.decode() for n in await cmd.command("SMEMBERS", k.nodes)]
        alive = await asyncio.gather(*(cmd.command("EXISTS", k.lease(n)) for n in nodes))
        for node, is_alive in zip(nodes, alive):
            if not is_alive:
                removed = await cmd.command("EVALSHA", self._sha["janitor"], 0, k.prefix, node)
                log.info("janitor: node %s is gone, %s presence entries removed", node, removed)

    # --- presence: stations of this node -------------------------------------------------

    def _station_connected(self, cp: ChargePoint) -> None:
        entry = _LocalEntry(cp)
        self._local[cp.identity] = entry
        if self._online:
            self._claim(entry)

    def _claim(self, entry: _LocalEntry) -> None:
        cmd = self._cmd
        assert cmd is not None
        cp = entry.cp
        fut = cmd.command(
            "EVALSHA",
            self._sha[self._claim_script],
            0,
            self.keys.prefix,
            cp.identity,
            self.node_id,
            cp.subprotocol,
        )
        fut.add_done_callback(lambda f: self._claimed(entry, f))

    def _claimed(self, entry: _LocalEntry, fut: asyncio.Future[Any]) -> None:
        if fut.cancelled() or fut.exception() is not None:
            return  # Redis went away: the reconnect re-asserts or claims again
        reply = fut.result()
        token = int(reply[0])
        identity = entry.cp.identity
        if token == 0:
            # duplicate_identity="reject": a live node holds this identity already; the new
            # connection goes (the cluster's answer to the 409 a single node gives: the
            # handshake is answered before Redis can be asked).
            if self._local.get(identity) is entry:
                del self._local[identity]
            holder = reply[1].split(b"|", 1)[0].decode()
            log.info(
                "%s: already connected to node %s, closing the new connection", identity, holder
            )
            entry.cp.close_transport(CLOSE_POLICY_VIOLATION, b"identity already connected")
            return
        if len(reply) > 1:
            # The previous owner's connection is older than this claim: it goes, also when this
            # connection was itself replaced or closed meanwhile (else it would stay open).
            old_node = reply[1].split(b"|", 1)[0].decode()
            if old_node != self.node_id:
                self._send(old_node, proto.Evict(identity, token, self.node_id))
        if self._local.get(identity) is not entry:
            # Gone already (or replaced locally): give the entry back unless someone is newer.
            self._release(identity, token)
            return
        entry.token = token
        if entry.evict_above > token:
            self._evict_local(identity, entry.evict_above)

    def _release(self, identity: str, token: int) -> None:
        cmd = self._cmd
        if self._online and cmd is not None:
            cmd.send_only(
                "EVALSHA", self._sha["release"], 0, self.keys.prefix, identity, self.node_id, token
            )

    def _station_disconnected(self, cp: ChargePoint) -> None:
        entry = self._local.get(cp.identity)
        if entry is None or entry.cp is not cp:
            return  # an older connection replaced locally: the new one owns the entry
        del self._local[cp.identity]
        if entry.token is not None:
            self._release(cp.identity, entry.token)
        # Claim still in flight: _claimed() releases when its answer arrives.

    def _evict_local(self, identity: str, token: int) -> None:
        entry = self._local.get(identity)
        if entry is None:
            return
        if entry.token is None:
            entry.evict_above = max(entry.evict_above, token)
            return
        if entry.token < token:
            log.info("%s: newer connection on another node, closing this one", identity)
            del self._local[identity]  # the entry in Redis is the other node's now
            entry.cp.close_transport(CLOSE_NORMAL, b"replaced by a new connection")

    async def _reassert_all(self) -> None:
        """Put every local station back in Redis (after a reconnect or a lapsed lease)."""
        cmd = self._cmd
        assert cmd is not None
        k = self.keys
        held = [(i, e) for i, e in self._local.items() if e.token is not None]
        for n in range(0, len(held), REASSERT_BATCH):
            args: list[Any] = []
            for identity, e in held[n : n + REASSERT_BATCH]:
                args += (identity, e.token, e.cp.subprotocol)
            lost, evict = await cmd.command(
                "EVALSHA", self._sha["reassert"], 0, k.prefix, self.node_id, *args
            )
            for identity in lost:
                entry = self._local.pop(identity.decode(), None)
                if entry is not None:
                    log.info("%s: held by a newer owner now, closing", entry.cp.identity)
                    entry.cp.close_transport(CLOSE_NORMAL, b"replaced by a new connection")
            for i in range(0, len(evict), 2):
                identity, node = evict[i].decode(), evict[i + 1].decode()
                entry = self._local.get(identity)
                if entry is not None and entry.token is not None:
                    self._send(node, proto.Evict(identity, entry.token, self.node_id))
        for entry in [e for e in self._local.values() if e.token is None]:
            self._claim(entry)
        # Entries that still name this node but whose station left while Redis was away.
        members = {m.decode() for m in await cmd.command("SMEMBERS", k.owned(self.node_id))}
        stale = [i for i in members if i not in self._local]
        for n in range(0, len(stale), REASSERT_BATCH):
            await cmd.command(
                "EVALSHA",
                self._sha["prune"],
                0,
                k.prefix,
                self.node_id,
                *stale[n : n + REASSERT_BATCH],
            )

    # --- messages from other nodes -------------------------------------------------------

    def _send(self, node: str, message: proto.Message) -> bool:
        """Publish to a node without waiting for (or receiving) Redis' reply."""
        return self._publish(node, proto.encode(message))

    def _publish(self, node: str, data: bytes) -> bool:
        pub = self._pub
        if not self._online or pub is None:
            return False
        return pub.fire_packed(self._publish_heads.get(node) or self._head_of(node), data)

    def _head_of(self, node: str) -> bytes:
        """The packed ``PUBLISH <node's channel>`` (kept per node)."""
        head = self._publish_heads.get(node)
        if head is None:
            if len(self._publish_heads) > 10_000:
                self._publish_heads.clear()
            head = self._publish_heads[node] = publish_head(self.keys.channel(node).encode())
        return head

    def _on_message(self, data: bytes) -> None:
        try:
            msg = proto.decode(data)
        except msgspec.DecodeError:
            log.warning("undecodable cluster message dropped (%d bytes)", len(data))
            return
        if type(msg) is proto.Result:
            self._on_result(msg)
        elif type(msg) is proto.Call:
            self._on_call(msg)
        elif type(msg) is proto.Results:
            self._on_results(msg)
        elif type(msg) is proto.Many:
            self._on_many(msg)
        elif type(msg) is proto.Evict and msg.node != self.node_id:
            self._evict_local(msg.identity, msg.token)

    def _checked(self, cp: ChargePoint, action: str, body: bytes) -> msgspec.Raw:
        """A routed payload (JSON) checked against the station's version, as a local call
        checks a dict or Struct: ``PayloadError`` when it fails (nothing is sent). The last
        valid body per message type is remembered, so a repeated payload costs one compare."""
        act = cp.actions.get(action)
        if act is not None and cp.validate_outgoing and self._valid.get(act.request) != body:
            try:
                act.request_decoder.decode(body)
            except (ValueError, RecursionError) as exc:
                raise outgoing_error(exc, getattr(act.request, "__name__", action)) from None
            self._valid[act.request] = body
        return msgspec.Raw(body)

    def _on_call(self, msg: proto.Call) -> None:
        entry = self._local.get(msg.identity)
        if entry is None or entry.cp.closed:
            desc = f"{msg.identity!r} is not connected"
            self._send(msg.src, proto.Result(msg.rid, proto.NOT_HERE, description=desc))
            return
        if msg.expires and _wall() > msg.expires:
            return  # the caller gave up: never deliver a CALL late (at most once)
        cp = entry.cp
        src, rid, sub, action, body = msg.src, msg.rid, cp.subprotocol, msg.action, msg.payload
        try:
            act = cp.actions.get(action)
            if act is not None and self._valid.get(act.request) == body and cp.validate_outgoing:
                payload = _Raw(body)  # the last routed payload of this type that passed
            else:
                payload = self._checked(cp, action, body)
            # The answer goes straight from the engine to the caller's channel: no Future, no
            # callback scheduled for a later turn of the loop.
            head = self._publish_heads.get(src) or self._head_of(src)
            cp.call_into(_Reply(self, head, rid, sub), action, payload, msg.timeout or None)
        except Exception as exc:  # noqa: BLE001 - reported to the caller
            self._send(src, _failed_result(rid, sub, exc))

    def _on_many(self, msg: proto.Many) -> None:
        if msg.expires and time.time() > msg.expires:
            return
        src = msg.src
        task = asyncio.get_running_loop().create_task(
            self._serve_many(msg, lambda results: self._send(src, results))
        )
        self._many_tasks.add(task)
        task.add_done_callback(self._many_tasks.discard)

    async def _serve_many(
        self, msg: proto.Many, deliver: Callable[[proto.Results], object]
    ) -> None:
        """Fan out a Many to the stations held here; outcomes go back in chunks as they come.

        The calls report to one engine ``CallGroup`` (a compiled slot per station, no Future,
        no Python code per answer); every ``MANY_FLUSH`` seconds the outcomes settled since
        are encoded and sent (the caller shows progress), the last chunk once all are in."""
        loop = asyncio.get_running_loop()
        held: list[tuple[str, ChargePoint | None]]
        if msg.identities is None:
            held = [(i, e.cp) for i, e in self._local.items()]
        else:
            held = [
                (i, e.cp if (e := self._local.get(i)) is not None else None) for i in msg.identities
            ]
        total = len(held)
        group = CallGroup(loop, total)
        subs: list[str] = []
        action, timeout = msg.action, msg.timeout or None
        checked: dict[str, Any] = {}  # subprotocol -> the checked payload, or its exception
        for index, (identity, cp) in enumerate(held):
            slot = group.slot(index)
            if cp is None or cp.closed:
                subs.append("")
                slot.set_exception(ConnectionClosedError(f"{identity!r} is not connected"))
                continue
            sub = cp.subprotocol
            subs.append(sub)
            try:
                raw = checked.get(sub)
                if raw is None:
                    try:
                        raw = checked[sub] = self._checked(cp, action, msg.payload)
                    except Exception as exc:  # noqa: BLE001 - reported per station
                        raw = checked[sub] = exc
                if isinstance(raw, BaseException):
                    raise raw
                cp.call_into(slot, action, raw, timeout)
            except Exception as exc:  # noqa: BLE001 - reported per station
                slot.set_exception(exc)
        results = group.results
        waiting: list[int] = list(range(total))  # indices not sent yet
        sent = 0
        while True:
            if group.remaining:
                await asyncio.wait((group.future,), timeout=MANY_FLUSH)
            last = not group.remaining
            # A scan costs O(waiting): only once the new outcomes are a chunk or an eighth of
            # what is waiting (linear in all, and a small fan-out still streams).
            if not last and total - group.remaining - sent < min(MANY_CHUNK, len(waiting) // 8 + 1):
                continue
            if last:
                ready, waiting = waiting, []
            else:  # settled ones (an answer is never None)
                ready = [i for i in waiting if results[i] is not None]
                waiting = [i for i in waiting if results[i] is None]
            sent += len(ready)
            items: list[proto.Item] = []
            for index in ready:
                value = results[index]
                if isinstance(value, BaseException):
                    kind, code, desc, body = outcome_of(value)
                    items.append(proto.Item(held[index][0], kind, subs[index], body, code, desc))
                else:
                    body = _json_encode(value)
                    items.append(proto.Item(held[index][0], _RESULT, subs[index], body))
            for n in range(0, max(len(items), 1), MANY_CHUNK):
                chunk = items[n : n + MANY_CHUNK]
                is_last = last and n + MANY_CHUNK >= len(items)
                if chunk or is_last:
                    deliver(proto.Results(msg.rid, chunk, is_last, total))
            if last:
                return

    # --- results at the caller -----------------------------------------------------------

    def _registry(self, subprotocol: str) -> dict[str, Any]:
        reg = self._registries.get(subprotocol)
        if reg is None:
            try:
                reg = versions_mod.actions(subprotocol)
            except ValueError:
                reg = {}
            self._registries[subprotocol] = reg
        return reg

    def _decode_answer(self, action: str, subprotocol: str, body: bytes) -> Any:
        registry = self._registries.get(subprotocol)
        if registry is None:
            registry = self._registry(subprotocol)
        act = registry.get(action)
        if act is not None and act.response_decoder is not None:
            try:
                return act.response_decoder.decode(body)
            except (ValueError, msgspec.ValidationError):
                pass  # the owner accepted it (validate_incoming off there): keep it generic
        return msgspec.json.decode(body)

    def _outcome(
        self, action: str, identity: str, kind: int, sub: str, body: bytes, code: str, desc: str
    ) -> Any:
        if kind == proto.RESULT:
            return self._decode_answer(action, sub, body)
        return exception_of(kind, code, desc, body, action, identity)

    def _on_result(self, msg: proto.Result) -> None:
        p = self._pending.pop(msg.rid, None)
        if p is None:
            return  # timed out here already
        fut = p.fut
        if fut.done():
            return
        if msg.kind == proto.RESULT:
            fut.set_result(self._decode_answer(p.action, msg.subprotocol, msg.body))
        else:
            fut.set_exception(
                exception_of(msg.kind, msg.code, msg.description, msg.body, p.action, p.identity)
            )

    def _on_results(self, msg: proto.Results) -> None:
        pm = self._pending_many.get(msg.rid)
        if pm is None:
            return
        for it in msg.items:
            pm.results[it.identity] = self._outcome(
                pm.action, it.identity, it.kind, it.subprotocol, it.body, it.code, it.description
            )
        if pm.on_item is not None and msg.items:
            pm.on_item()
        if msg.last:
            self._pending_many.pop(msg.rid, None)
            if not pm.done.done():
                pm.done.set_result(None)

    def _fail_all_pending(self, exc: ConnectionClosedError) -> None:
        pending, self._pending = self._pending, {}
        for p in pending.values():
            if not p.fut.done():
                p.fut.set_exception(type(exc)(str(exc)))
        many, self._pending_many = self._pending_many, {}
        for pm in many.values():
            if not pm.done.done():
                pm.done.set_exception(type(exc)(str(exc)))

    def _expire(self, now: float) -> None:
        """Fail the routed calls whose caller-side deadline (timeout + grace) has passed."""
        late = [rid for rid, p in self._pending.items() if p.deadline <= now]
        for rid in late:
            p = self._pending.pop(rid)
            if not p.fut.done():
                p.fut.set_exception(CallTimeoutError(p.action, f"cluster:{rid}", p.timeout))

    async def _liveness(self) -> None:
        """Every ``liveness_interval``: expire routed calls past their deadline, and fail calls
        in flight to a node that went away (nobody on its channel any more)."""
        loop = asyncio.get_running_loop()
        while not self._closing:
            await asyncio.sleep(self.liveness_interval)
            if self._pending:
                self._expire(loop.time())
            cmd = self._cmd
            if not self._online or cmd is None:
                continue
            nodes = {p.node for p in self._pending.values() if p.node}
            nodes.update(pm.node for pm in self._pending_many.values())
            if not nodes:
                continue
            try:
                reply = await asyncio.wait_for(
                    cmd.command("PUBSUB", "NUMSUB", *(self.keys.channel(n) for n in nodes)),
                    self.liveness_interval * 4,
                )
            except (RespError, TimeoutError, OSError):
                continue
            gone = {
                reply[i].decode()[len(self.keys.prefix) + 2 :]
                for i in range(0, len(reply), 2)
                if int(reply[i + 1]) == 0
            }
            if not gone:
                continue
            # Later calls to their stations go through the route script again, which answers
            # NodeUnavailableError at once (or finds where a station went meanwhile).
            for identity in [i for i, n in self._routes.items() if n in gone]:
                del self._routes[identity]
            for rid, p in list(self._pending.items()):
                if p.node in gone:
                    del self._pending[rid]
                    if not p.fut.done():
                        p.fut.set_exception(
                            NodeUnavailableError(
                                f"node {p.node} holding {p.identity!r} went away", p.node
                            )
                        )
            for rid, pm in list(self._pending_many.items()):
                if pm.node in gone:
                    del self._pending_many[rid]
                    if not pm.done.done():
                        pm.done.set_exception(
                            NodeUnavailableError(f"node {pm.node} went away", pm.node)
                        )

    # --- calls ---------------------------------------------------------------------------

    def _next_rid(self) -> int:
        self._rid += 1
        return self._rid

    def _require_online(self, what: str) -> RespConnection:
        cmd = self._cmd
        if not self._online or cmd is None:
            raise ClusterUnavailableError(
                f"cannot reach {what}: Redis at {self.redis_url} is unreachable"
            )
        return cmd

    async def call(
        self,
        identity: str,
        action: Any,
        payload: Any = None,
        *,
        timeout: float | None = None,
    ) -> Any:
        """CALL ``identity`` wherever it is connected; returns the typed response.

        Raises what a local call raises (the ``ocppfast.errors`` class of a CALLERROR,
        ``CallTimeoutError``, ``NotConnectedError`` when it is not connected, ``PayloadError``
        when the payload fails the schema of the station's version: nothing was sent), plus
        ``NodeUnavailableError`` when its node is gone and ``ClusterUnavailableError`` when
        Redis is unreachable.
        """
        if not isinstance(action, str):
            payload, action = action, action_of(action)
        if payload is None:
            payload = {}
        cs = self.cs
        if cs is not None:
            cp = cs.charge_points.get(identity)
            if cp is not None:
                return await cp.call(action, payload, timeout=timeout)
        pub = self._pub
        if not self._online or pub is None:
            raise self._unreachable(identity)
        body = _json_encode(payload)
        node = self._routes.get(identity)
        if node is not None:
            # The hot path: no coroutine but this one, one PUBLISH on the connection whose
            # replies are off (nothing comes back but the result: one wake-up per call, as
            # for a local call). A node that went away is noticed by the liveness sweep
            # (nobody on its channel): NodeUnavailableError within liveness_interval, and the
            # next call goes through the route script again.
            rid = self._rid = self._rid + 1
            fut, data = self._call_message(rid, identity, action, body, timeout, node)
            if not pub.fire_packed(self._publish_heads.get(node) or self._head_of(node), data):
                self._pending.pop(rid, None)
                raise self._unreachable(identity)
            try:
                return await fut
            except _NotHereError:
                pass  # a stale route (the station moved): nothing was sent to any station
            except BaseException:
                self._pending.pop(rid, None)  # cancelled here: forget it
                raise
            if self._routes.get(identity) == node:
                del self._routes[identity]
        try:
            return await self._route_call(identity, action, body, timeout)
        except _NotHereError:
            raise NotConnectedError(f"{identity!r} is not connected") from None

    def _unreachable(self, what: str) -> ClusterUnavailableError:
        return ClusterUnavailableError(
            f"cannot reach {what!r}: Redis at {self.redis_url} is unreachable"
        )

    def _call_message(
        self, rid: int, identity: str, action: str, body: bytes, timeout: float | None, node: str
    ) -> tuple[asyncio.Future[Any], bytes]:
        """Register a pending routed call; its future and the encoded Call message."""
        loop = self._loop
        assert loop is not None
        effective = timeout or self.call_timeout
        grace = effective + self.call_grace
        fut = loop.create_future()
        # Registered before sending: the result may arrive before the reply to the send.
        self._pending[rid] = _Pending(fut, action, node, identity, loop.time() + grace, effective)
        return fut, _encode(
            _Call(rid, self.node_id, identity, action, body, timeout or 0.0, _wall() + grace)
        )

    async def _route_call(
        self, identity: str, action: str, body: bytes, timeout: float | None
    ) -> Any:
        """A routed call through the route script: owner lookup, liveness check and PUBLISH in
        one round trip; the owner is remembered for the next calls."""
        cmd = self._cmd
        if not self._online or cmd is None:
            raise self._unreachable(identity)
        rid = self._rid = self._rid + 1
        fut, data = self._call_message(rid, identity, action, body, timeout, "")
        try:
            try:
                reply = await cmd.command(
                    "EVALSHA", self._sha["route"], 0, self.keys.prefix, identity, data
                )
            except RespError as exc:
                raise ClusterUnavailableError(f"cannot route to {identity!r}: {exc}") from None
            status = reply[0]
            if status == 0:
                raise NotConnectedError(f"{identity!r} is not connected")
            node = reply[1].decode()
            if status != 1:
                raise NodeUnavailableError(
                    f"{identity!r} is held by node {node}, which is unavailable", node
                )
            pending = self._pending.get(rid)
            if pending is not None:
                pending.node = node
            if len(self._routes) > 200_000:
                self._routes.clear()
            self._routes[identity] = node
            return await fut
        finally:
            self._pending.pop(rid, None)

    async def call_many(
        self,
        action: Any,
        payload: Any = None,
        *,
        identities: Iterable[str] | None = None,
        timeout: float | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> dict[str, Any]:
        """CALL many stations cluster-wide (every connected one by default).

        One message per node, not per station. Returns identity -> typed response or the
        exception of that call. ``on_progress(answered_so_far)`` is called as chunks arrive.
        With ``identities=None`` a node that went away mid-way is simply missing from the
        result (its stations are unknown to the caller); with explicit identities every one
        gets an entry.
        """
        if not isinstance(action, str):
            payload, action = action, action_of(action)
        if payload is None:
            payload = {}
        body = msgspec.json.encode(payload)
        effective = timeout if timeout else self.call_timeout
        expires = time.time() + effective + self.call_grace
        results: dict[str, Any] = {}
        groups: dict[str, list[str] | None] = {}
        if identities is None:
            for n in await self.nodes():
                if n.alive:
                    groups[n.id] = None
            if self.cs is not None:
                groups[self.node_id] = None
        else:
            ids = list(identities)
            local: list[str] = []
            remote: list[str] = []
            for i in ids:
                (local if i in self._local else remote).append(i)
            if local:
                groups[self.node_id] = local
            if remote:
                try:
                    self._require_online("the cluster")
                except ClusterUnavailableError as exc:
                    for i in remote:
                        results[i] = ClusterUnavailableError(str(exc))
                    remote = []
                owners = await self._owners(remote) if remote else {}
                for i in remote:
                    owner = owners.get(i)
                    if owner is None:
                        results[i] = ConnectionClosedError(f"{i!r} is not connected")
                    elif not owner[1]:
                        results[i] = NodeUnavailableError(
                            f"node {owner[0]} is unavailable", owner[0]
                        )
                    else:
                        group = groups.setdefault(owner[0], [])
                        assert group is not None
                        group.append(i)

        def progress() -> None:
            if on_progress is not None:
                on_progress(sum(len(pm.results) for pm in waits.values()))

        loop = asyncio.get_running_loop()
        waits: dict[str, _PendingMany] = {}
        rids: list[int] = []
        for node, group in groups.items():
            rid = self._next_rid()
            rids.append(rid)
            pm = _PendingMany(action, node, progress)
            waits[node] = pm
            self._pending_many[rid] = pm
            msg = proto.Many(rid, self.node_id, group, action, body, timeout or 0.0, expires)
            if node == self.node_id:
                # The local share goes through the same code, answered without Redis.
                task = loop.create_task(self._serve_many(msg, self._on_results))
                self._many_tasks.add(task)
                task.add_done_callback(self._many_tasks.discard)
            elif not self._send(node, msg):
                self._pending_many.pop(rid, None)
                pm.done.set_exception(ClusterUnavailableError("Redis is unreachable"))
        if waits:
            await asyncio.wait(
                [pm.done for pm in waits.values()], timeout=effective + self.call_grace
            )
        for node, pm in waits.items():
            results.update(pm.results)
            group = groups[node]
            missing: list[str] = [i for i in group if i not in pm.results] if group else []
            failure = pm.done.exception() if pm.done.done() else None
            if failure is not None:
                for i in missing:
                    results[i] = failure
            else:
                for i in missing:
                    results[i] = CallTimeoutError(action, "cluster", effective)
        for rid in rids:
            self._pending_many.pop(rid, None)
        return results

    async def _owners(self, identities: list[str]) -> dict[str, tuple[str, bool]]:
        """identity -> (node, alive) for those present."""
        cmd = self._require_online("the cluster")
        out: dict[str, tuple[str, bool]] = {}
        values: list[Any] = []
        for n in range(0, len(identities), 1000):
            values += await cmd.command("HMGET", self.keys.presence, *identities[n : n + 1000])
        nodes = {v.split(b"|", 1)[0].decode() for v in values if v is not None}
        alive = await self._alive(nodes)
        for identity, v in zip(identities, values):
            if v is not None:
                node = v.split(b"|", 1)[0].decode()
                out[identity] = (node, alive.get(node, False))
        return out

    async def _alive(self, nodes: Iterable[str]) -> dict[str, bool]:
        cmd = self._require_online("the cluster")
        names = list(nodes)
        flags = await asyncio.gather(*(cmd.command("EXISTS", self.keys.lease(n)) for n in names))
        return {n: bool(f) for n, f in zip(names, flags)}

    # --- queries -------------------------------------------------------------------------

    async def where(self, identity: str) -> StationLocation | None:
        """Where ``identity`` is connected, or None."""
        cmd = self._require_online(repr(identity))
        value = await cmd.command("HGET", self.keys.presence, identity)
        if value is None:
            return None
        node_b, tok, sub = value.split(b"|", 2)
        node = node_b.decode()
        alive = bool(await cmd.command("EXISTS", self.keys.lease(node)))
        return StationLocation(identity, node, sub.decode(), int(tok), alive, node == self.node_id)

    async def nodes(self) -> list[NodeInfo]:
        """Every registered node: its station count and whether its lease is alive."""
        cmd = self._require_online("the cluster")
        k = self.keys
        names = sorted(n.decode() for n in await cmd.command("SMEMBERS", k.nodes))
        infos = await asyncio.gather(*(cmd.command("GET", k.lease(n)) for n in names))
        counts = await asyncio.gather(*(cmd.command("SCARD", k.owned(n)) for n in names))
        out = []
        for name, info, count in zip(names, infos, counts):
            meta = _NodeInfoJSON()
            if info is not None:
                with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
                    meta = msgspec.json.decode(info, type=_NodeInfoJSON)
            out.append(
                NodeInfo(name, int(count), info is not None, meta.host, meta.pid, meta.started)
            )
        return out

    async def count(self) -> int:
        """Stations connected to live nodes, cluster-wide."""
        return sum(n.stations for n in await self.nodes() if n.alive)

    @property
    def local_count(self) -> int:
        return len(self._local)
