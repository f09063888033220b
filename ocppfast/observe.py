"""Seeing what connections do: the frame tracer, connection logs and Prometheus metrics.

Each connection's engine has an ``observer`` attribute. It is ``None`` unless something asked to
watch: then the engine's per-frame cost is one pointer comparison. An observer gets, from the
engine (all synchronous; an exception it raises is logged, never breaks the connection):

- ``frame_in(engine, data)`` / ``frame_out(engine, data)``: every TEXT message received (before
  decoding) and every frame written;
- ``call_in(engine, action, outcome)``: a CALL received was answered; ``outcome`` is
  ``"result"``, the CallError code sent (2.0.1 spelling) or, for an OCPP 2.1 SEND, ``"send"``;
- ``call_out(engine, action, outcome, seconds)``: a CALL sent ended with ``"result"``, the
  CallError code received, ``"timeout"`` or ``"closed"``;
- ``bad_frame(engine, reason)``: a message that could not be read as OCPP-J;

and, from the server and the client: ``connected(engine)``, ``disconnected(engine)``,
``reconnect(engine, ok)`` and ``handshake_refused(status)``.

Two observers come with ocppfast:

- the frame tracer (:class:`WireTracer`): logger ``ocppfast.wire`` at DEBUG, one record per frame
  with its direction and the connection's identity. It is attached to a new connection when that
  logger is enabled for DEBUG at the moment the connection is made (``logging.getLogger(
  "ocppfast.wire").setLevel(logging.DEBUG)``, or ``--trace`` on the command line); call
  :func:`refresh` to attach it to connections already open. Once the logger is turned off, it
  leaves each connection at its next frame.
- :class:`Metrics`: Prometheus metrics through ``prometheus_client`` (``pip install
  'ocppfast[metrics]'``): ``CentralSystem(observer=Metrics())`` or ``connect(...,
  observer=Metrics())``; ``metrics.start_http_server(port)`` exposes them.

:func:`observer_for` decides what a new connection gets; the server and the client call it.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .errors import GenericError, from_call_error

if TYPE_CHECKING:
    from prometheus_client.registry import CollectorRegistry

__all__ = [
    "DEFAULT_BUCKETS",
    "OTHER_CODE",
    "TRACE_MAX_BYTES",
    "UNKNOWN_ACTION",
    "WIRE_LOGGER",
    "Metrics",
    "Observer",
    "WireTracer",
    "connected",
    "disconnected",
    "handshake_refused",
    "observer_for",
    "reconnect",
    "refresh",
]

#: The frame tracer's logger: DEBUG enables it (checked when a connection is made).
WIRE_LOGGER = "ocppfast.wire"
#: Bytes of a frame written to the trace; the rest is cut and its length given.
TRACE_MAX_BYTES = 2048
#: Upper bounds (seconds) of the latency histogram of outgoing CALLs. A station may take seconds
#: to answer (a Reset, a firmware check), and the default call_timeout is 30 s.
DEFAULT_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)

wire_log = logging.getLogger(WIRE_LOGGER)
#: Connection life at INFO: connected, disconnected, refused handshakes, reconnects.
connection_log = logging.getLogger("ocppfast.connections")

_RESULT = "result"
_SEND = "send"
# Outcomes of call_out that are not a CallError code.
_NOT_CODES = frozenset((_RESULT, _SEND, "timeout", "closed"))
# Label values the peer chooses (an action name it made up, a bad-frame reason) are capped so a
# peer cannot grow the metrics without bound: an unknown action is counted as this one.
UNKNOWN_ACTION = "(unknown)"
#: A CALLERROR code received that OCPP-J does not define counts as this one.
OTHER_CODE = "(other)"
_MAX_REASONS = 64


class Observer:
    """What the engine, the server and the client tell an observer; every method does nothing.

    Subclass it and override what you need (statsd, OpenTelemetry, a test's recorder). The
    methods run on the event loop, inline: keep them short. ``engine`` is the connection's
    :class:`ocppfast.ChargePoint` (``engine.identity``, ``engine.subprotocol``).
    """

    def frame_in(self, engine: Any, data: bytes) -> None:
        """A complete TEXT message received, before it is decoded."""

    def frame_out(self, engine: Any, data: bytes) -> None:
        """A frame written (CALL, CALLRESULT, CALLERROR, ...)."""

    def call_in(self, engine: Any, action: str, outcome: str) -> None:
        """A CALL received was answered: ``"result"``, the CallError code sent, or ``"send"``."""

    def call_out(self, engine: Any, action: str, outcome: str, seconds: float) -> None:
        """A CALL sent ended: ``"result"``, the CallError code received, ``"timeout"`` or
        ``"closed"``, ``seconds`` after it was made."""

    def bad_frame(self, engine: Any, reason: str) -> None:
        """A message that could not be read as OCPP-J."""

    def connected(self, engine: Any) -> None:
        """The connection is open (a station registered with the central system, or a station
        connected to its central system)."""

    def disconnected(self, engine: Any) -> None:
        """The connection opened with :meth:`connected` is gone."""

    def reconnect(self, engine: Any, ok: bool) -> None:
        """A station's attempt to reconnect (``connect(..., reconnect=True)``) ended."""

    def handshake_refused(self, status: int) -> None:
        """The central system refused a WebSocket handshake with this HTTP status."""


def _text(data: bytes, limit: int) -> str:
    """A frame as text for a log line: never raises (bad UTF-8 is shown escaped), cut at
    ``limit`` bytes with the full length given."""
    if len(data) <= limit:
        return data.decode("utf-8", "backslashreplace")
    return f"{data[:limit].decode('utf-8', 'backslashreplace')}... ({len(data)} bytes)"


class WireTracer(Observer):
    """Logs every frame in and out to ``ocppfast.wire`` at DEBUG::

        DEBUG ocppfast.wire: CP-1 recv [2,"19","Heartbeat",{}]
        DEBUG ocppfast.wire: CP-1 sent [3,"19",{"currentTime":"2026-11-26T02:20:00Z"}]

    ``recv``/``sent`` are from this process's side; the identity is the station's on both sides.
    The records carry ``ocpp_identity``, ``ocpp_subprotocol`` and ``ocpp_direction`` (``"in"``,
    ``"out"``) for structured handlers. Frames over ``max_bytes`` are cut.
    """

    def __init__(
        self,
        logger: logging.Logger | None = None,
        *,
        max_bytes: int = TRACE_MAX_BYTES,
        detach_when_off: bool = False,
    ) -> None:
        self.logger = logger if logger is not None else wire_log
        self.max_bytes = max_bytes
        #: Leave a connection at its first frame after the logger was turned off (the tracer
        #: :func:`observer_for` attaches does: turning tracing off needs no :func:`refresh`).
        self.detach_when_off = detach_when_off

    def _trace(self, engine: Any, data: bytes, word: str, direction: str) -> None:
        logger = self.logger
        if not logger.isEnabledFor(logging.DEBUG):  # turned off since the connection was made
            if self.detach_when_off:
                current = engine.observer
                if current is self:
                    engine.observer = None
                elif isinstance(current, _Tee) and current.tracer is self:
                    engine.observer = current.observer
            return
        logger.debug(
            "%s %s %s",
            engine.identity,
            word,
            _text(data, self.max_bytes),
            extra={
                "ocpp_identity": engine.identity,
                "ocpp_subprotocol": engine.subprotocol,
                "ocpp_direction": direction,
            },
        )

    def frame_in(self, engine: Any, data: bytes) -> None:
        self._trace(engine, data, "recv", "in")

    def frame_out(self, engine: Any, data: bytes) -> None:
        self._trace(engine, data, "sent", "out")

    def bad_frame(self, engine: Any, reason: str) -> None:
        if self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug("%s bad frame: %s", engine.identity, reason)


class _Tee(Observer):
    """The frame tracer and a user's observer on one connection."""

    def __init__(self, tracer: Observer, observer: Observer) -> None:
        self.tracer = tracer
        self.observer = observer

    def frame_in(self, engine: Any, data: bytes) -> None:
        self.tracer.frame_in(engine, data)
        self.observer.frame_in(engine, data)

    def frame_out(self, engine: Any, data: bytes) -> None:
        self.tracer.frame_out(engine, data)
        self.observer.frame_out(engine, data)

    def call_in(self, engine: Any, action: str, outcome: str) -> None:
        self.observer.call_in(engine, action, outcome)

    def call_out(self, engine: Any, action: str, outcome: str, seconds: float) -> None:
        self.observer.call_out(engine, action, outcome, seconds)

    def bad_frame(self, engine: Any, reason: str) -> None:
        self.tracer.bad_frame(engine, reason)
        self.observer.bad_frame(engine, reason)

    def connected(self, engine: Any) -> None:
        self.observer.connected(engine)

    def disconnected(self, engine: Any) -> None:
        self.observer.disconnected(engine)

    def reconnect(self, engine: Any, ok: bool) -> None:
        self.observer.reconnect(engine, ok)

    def handshake_refused(self, status: int) -> None:
        self.observer.handshake_refused(status)


_tracer = WireTracer(detach_when_off=True)


def observer_for(observer: Observer | None) -> Observer | None:
    """The observer a new connection gets: ``observer`` (the ``observer=`` option, or None), with
    the frame tracer added when ``ocppfast.wire`` is enabled for DEBUG. None when neither: the
    engine then skips every hook. ``Logger.isEnabledFor`` is a cached lookup, so this costs next
    to nothing per connection."""
    if not wire_log.isEnabledFor(logging.DEBUG):
        return observer
    if observer is None:
        return _tracer
    return _Tee(_tracer, observer)


def _user_observer(current: Observer | None) -> Observer | None:
    if isinstance(current, _Tee):
        return current.observer
    if current is _tracer:
        return None
    return current


def refresh(target: Any) -> None:
    """Attach or detach the frame tracer on connections already open, after a change of the
    ``ocppfast.wire`` logger's level: ``target`` is a :class:`~ocppfast.CentralSystem` (all its
    stations) or one :class:`~ocppfast.ChargePoint`. New connections need no call, nor does
    turning tracing off (the tracer then leaves each connection at its next frame)."""
    charge_points = getattr(target, "charge_points", None)
    engines = list(charge_points.values()) if charge_points is not None else [target]
    for engine in engines:
        engine.observer = observer_for(_user_observer(engine.observer))


# --- connection life: logged at INFO, counted by the observer ---------------------------------


def _peer(engine: Any) -> str:
    try:
        peer = engine.transport.underlying_transport.get_extra_info("peername")
    except Exception:  # noqa: BLE001 - only for a log line
        return "?"
    if isinstance(peer, tuple) and len(peer) >= 2:
        host = f"[{peer[0]}]" if ":" in str(peer[0]) else str(peer[0])
        return f"{host}:{peer[1]}"
    return str(peer) if peer else "?"


def connected(engine: Any, observer: Observer | None, url: str | None = None) -> None:
    """A connection is open: logged at INFO (identity, subprotocol, the peer's address or, on a
    station, the central system's URL) and told to ``observer``."""
    if connection_log.isEnabledFor(logging.INFO):
        if url is None:
            connection_log.info(
                "%s: connected (%s) from %s", engine.identity, engine.subprotocol, _peer(engine)
            )
        else:
            connection_log.info(
                "%s: connected to %s (%s)", engine.identity, url, engine.subprotocol
            )
    if observer is not None:
        observer.connected(engine)


def disconnected(engine: Any, observer: Observer | None) -> None:
    """A connection opened with :func:`connected` is gone: logged at INFO, told to ``observer``."""
    connection_log.info("%s: disconnected (%s)", engine.identity, engine.subprotocol)
    if observer is not None:
        observer.disconnected(engine)


def reconnect(engine: Any, observer: Observer | None, ok: bool) -> None:
    """A station's attempt to reconnect ended (the client logs the attempt itself)."""
    if observer is not None:
        observer.reconnect(engine, ok)


def handshake_refused(observer: Observer | None, request: Any, result: Any) -> None:
    """Called with what the server's handshake callback returns: when it is a refusal (an HTTP
    error response, no listener), log it with the path, status and reason, and count it: at
    WARNING for 503 (the central system is at capacity: an operator's business), at INFO for
    the station's own errors (400 bad identity, 401, 404, 409). A 500 was logged with its
    traceback already."""
    if getattr(result, "listener", True) is not None:
        return
    response = result.response
    status = int(response.status)
    level = logging.WARNING if status == 503 else logging.INFO
    if status != 500 and connection_log.isEnabledFor(level):
        path = bytes(request.path[:200]).decode("ascii", "backslashreplace")
        reason = bytes(response.body or b"").decode("utf-8", "backslashreplace")
        connection_log.log(level, "handshake for %s refused: HTTP %d %s", path, status, reason)
    if observer is not None:
        observer.handshake_refused(status)


# --- Prometheus ----------------------------------------------------------------------------


def _made_up(code: str) -> bool:
    """True for a CallError code that no OCPP-J version defines (a peer's invention)."""
    return code != GenericError.code and type(from_call_error(code, "", {})) is GenericError


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError:
        raise ImportError(
            "ocppfast.observe.Metrics needs the prometheus_client package: "
            "pip install 'ocppfast[metrics]' (or pip install prometheus_client)"
        ) from None
    return prometheus_client


class Metrics(Observer):
    """Prometheus metrics of the connections it observes, on either side::

        metrics = Metrics()                          # registers with prometheus_client.REGISTRY
        cs = CentralSystem(observer=metrics)
        metrics.start_http_server(9100)              # GET http://127.0.0.1:9100/metrics

    Pass ``registry=CollectorRegistry()`` for a registry of your own (two ``Metrics`` in the
    default registry clash). Counting happens in plain Python counters on the event loop (no lock,
    no label lookup per call); the metric families are built when Prometheus scrapes:

    - ``ocppfast_connections_open`` (gauge), ``ocppfast_connections_opened_total``
    - ``ocppfast_calls_received_total{action,outcome}``: CALLs received and how they were
      answered (``result``, a CallError code, ``send`` for 2.1 SEND)
    - ``ocppfast_calls_sent_total{action,outcome}``: ``result``, the CallError code received,
      ``timeout``, ``closed``
    - ``ocppfast_callerrors_total{direction,code}``: CALLERRORs ``sent`` and ``received``
    - ``ocppfast_call_duration_seconds{action}`` (histogram): CALLs sent, until their answer
      (CALLRESULT or CALLERROR; timeouts and closed connections are in the counter only)
    - ``ocppfast_bad_frames_total{reason}``, ``ocppfast_frames_total{direction}``,
      ``ocppfast_frame_bytes_total{direction}``
    - ``ocppfast_reconnects_total{outcome}`` (stations: attempts to reconnect after a lost
      connection, ``connected`` or ``failed``; retries of the first connection not counted)
    - ``ocppfast_handshakes_refused_total{status}`` (central systems: HTTP status)

    Action names a peer made up (answered NotImplemented) count as ``(unknown)``, CallError codes
    it made up as ``(other)``. Identities are never labels: with thousands of stations they
    would make thousands of series.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        namespace: str = "ocppfast",
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        prometheus_client = _prometheus()
        self.namespace = namespace
        self.buckets = tuple(sorted(float(b) for b in buckets if b != float("inf")))
        self.open = 0
        self.opened = 0
        self.frames_in = 0
        self.frames_out = 0
        self.bytes_in = 0
        self.bytes_out = 0
        #: (action, outcome) -> count
        self.calls_in: dict[tuple[str, str], int] = {}
        self.calls_out: dict[tuple[str, str], int] = {}
        #: action -> [count per bucket (the last is +Inf, not cumulative)..., sum of seconds]
        self.latency: dict[str, list[float]] = {}
        self.bad_frames: dict[str, int] = {}
        self.reconnects: dict[str, int] = {}
        self.refused: dict[int, int] = {}
        self.registry = registry if registry is not None else prometheus_client.REGISTRY
        self.registry.register(self)

    # --- Observer ---------------------------------------------------------------------

    def frame_in(self, engine: Any, data: bytes) -> None:
        self.frames_in += 1
        self.bytes_in += len(data)

    def frame_out(self, engine: Any, data: bytes) -> None:
        self.frames_out += 1
        self.bytes_out += len(data)

    def call_in(self, engine: Any, action: str, outcome: str) -> None:
        calls = self.calls_in
        try:
            calls[action, outcome] += 1
        except KeyError:  # the first of its kind, or an action the peer made up
            if outcome != _RESULT and action not in engine.actions:
                action = UNKNOWN_ACTION
            key = (action, outcome)
            calls[key] = calls.get(key, 0) + 1

    def call_out(self, engine: Any, action: str, outcome: str, seconds: float) -> None:
        calls = self.calls_out
        try:
            calls[action, outcome] += 1
        except KeyError:  # the first of its kind, or an error code the peer made up
            if outcome not in _NOT_CODES and _made_up(outcome):
                outcome = OTHER_CODE
            key = (action, outcome)
            calls[key] = calls.get(key, 0) + 1
        if outcome == "timeout" or outcome == "closed":
            return
        counts = self.latency.get(action)
        if counts is None:
            counts = self.latency[action] = [0.0] * (len(self.buckets) + 2)
        counts[bisect.bisect_left(self.buckets, seconds)] += 1
        counts[-1] += seconds

    def bad_frame(self, engine: Any, reason: str) -> None:
        bad = self.bad_frames
        if reason not in bad and len(bad) >= _MAX_REASONS:
            reason = "other"
        bad[reason] = bad.get(reason, 0) + 1

    def connected(self, engine: Any) -> None:
        self.open += 1
        self.opened += 1

    def disconnected(self, engine: Any) -> None:
        self.open -= 1

    def reconnect(self, engine: Any, ok: bool) -> None:
        outcome = "connected" if ok else "failed"
        self.reconnects[outcome] = self.reconnects.get(outcome, 0) + 1

    def handshake_refused(self, status: int) -> None:
        self.refused[status] = self.refused.get(status, 0) + 1

    # --- reading ----------------------------------------------------------------------

    def calls_received(self, action: str, outcome: str = _RESULT) -> int:
        """CALLs of ``action`` received and answered with ``outcome``."""
        return self.calls_in.get((action, outcome), 0)

    def calls_sent(self, action: str, outcome: str = _RESULT) -> int:
        """CALLs of ``action`` sent that ended with ``outcome``."""
        return self.calls_out.get((action, outcome), 0)

    def start_http_server(self, port: int, addr: str = "127.0.0.1") -> Any:
        """Serve ``/metrics`` of this registry on ``addr:port`` (``port=0``: any free port) from
        a thread of prometheus_client's; returns the server (``server.server_port``,
        ``server.shutdown()``)."""
        server, _thread = _prometheus().start_http_server(port, addr, registry=self.registry)
        return server

    def unregister(self) -> None:
        """Take these metrics out of their registry."""
        self.registry.unregister(self)

    # --- prometheus_client collector protocol -------------------------------------------

    def describe(self) -> Iterable[Any]:
        return self._families(empty=True)

    def collect(self) -> Iterable[Any]:
        return self._families(empty=False)

    def _families(self, *, empty: bool) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        ns = self.namespace
        # Copies first: a scrape runs in prometheus_client's thread while the event loop counts
        # (a dict copy holds the GIL throughout; per-key values may be one call apart).
        calls_in = {} if empty else dict(self.calls_in)
        calls_out = {} if empty else dict(self.calls_out)
        latency = {} if empty else {a: list(v) for a, v in dict(self.latency).items()}
        bad = {} if empty else dict(self.bad_frames)
        reconnects = {} if empty else dict(self.reconnects)
        refused = {} if empty else dict(self.refused)

        yield GaugeMetricFamily(
            f"{ns}_connections_open",
            "OCPP-J connections open now (a central system: its stations connected)",
            value=None if empty else self.open,
        )
        yield CounterMetricFamily(
            f"{ns}_connections_opened",
            "OCPP-J connections opened",
            value=None if empty else self.opened,
        )
        family = CounterMetricFamily(
            f"{ns}_calls_received",
            "CALLs received, by action and how they were answered (result, CallError code, send)",
            labels=["action", "outcome"],
        )
        for (action, outcome), n in sorted(calls_in.items()):
            family.add_metric([action, outcome], n)
        yield family
        family = CounterMetricFamily(
            f"{ns}_calls_sent",
            "CALLs sent, by action and outcome (result, CallError code received, timeout, closed)",
            labels=["action", "outcome"],
        )
        for (action, outcome), n in sorted(calls_out.items()):
            family.add_metric([action, outcome], n)
        yield family
        errors: dict[tuple[str, str], int] = {}
        for direction, calls in (("sent", calls_in), ("received", calls_out)):
            for (_, outcome), n in calls.items():
                if outcome not in _NOT_CODES:
                    errors[direction, outcome] = errors.get((direction, outcome), 0) + n
        family = CounterMetricFamily(
            f"{ns}_callerrors",
            "CALLERRORs sent (answers to CALLs received) and received (answers to CALLs sent)",
            labels=["direction", "code"],
        )
        for (direction, code), n in sorted(errors.items()):
            family.add_metric([direction, code], n)
        yield family
        hist = HistogramMetricFamily(
            f"{ns}_call_duration_seconds",
            "Seconds from sending a CALL to reading its CALLRESULT or CALLERROR",
            labels=["action"],
        )
        bounds = [*(repr(b) for b in self.buckets), "+Inf"]
        for action, counts in sorted(latency.items()):
            cumulative: list[tuple[str, float]] = []
            total = 0.0
            for bound, in_bucket in zip(bounds, counts[:-1], strict=True):
                total += in_bucket
                cumulative.append((bound, total))
            hist.add_metric([action], cumulative, counts[-1])
        yield hist
        family = CounterMetricFamily(
            f"{ns}_bad_frames", "Messages that could not be read as OCPP-J", labels=["reason"]
        )
        for reason, n in sorted(bad.items()):
            family.add_metric([reason], n)
        yield family
        for name, help_text, values in (
            ("frames", "WebSocket TEXT messages", (self.frames_in, self.frames_out)),
            ("frame_bytes", "Bytes of WebSocket TEXT messages", (self.bytes_in, self.bytes_out)),
        ):
            family = CounterMetricFamily(
                f"{ns}_{name}", f"{help_text} received (in) and sent (out)", labels=["direction"]
            )
            if not empty:
                family.add_metric(["in"], values[0])
                family.add_metric(["out"], values[1])
            yield family
        family = CounterMetricFamily(
            f"{ns}_reconnects",
            "Reconnection attempts of a station (connect(reconnect=True)), by outcome",
            labels=["outcome"],
        )
        for outcome, n in sorted(reconnects.items()):
            family.add_metric([outcome], n)
        yield family
        family = CounterMetricFamily(
            f"{ns}_handshakes_refused",
            "WebSocket handshakes the central system refused, by HTTP status",
            labels=["status"],
        )
        for status, n in sorted(refused.items()):
            family.add_metric([str(status)], n)
        yield family
