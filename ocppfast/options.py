"""The connection options, defined once: name, type, default and documentation.

:class:`ocppfast.CentralSystem` takes ``**options: Unpack[ServerOptions]``, :func:`ocppfast.connect`
``**options: Unpack[ClientOptions]``; the engine's keyword arguments are the names of the options
marked ``engine`` (``tests/test_options.py`` checks names and defaults against
``ocppfast._engine.Engine``). A type checker sees each option's type through the TypedDicts; at
run time :func:`resolve` fills in the defaults and refuses an unknown name with a ``TypeError``
that names it and suggests the closest one. ``docs/options.md`` is generated from here by
``tools/gen_options_doc.py`` (a test compares).

To add an option: one ``Annotated[type, Option(default, doc)]`` line below, in the TypedDict of
the side(s) it belongs to; then read it from the resolved options where it is used.
"""

from __future__ import annotations

import difflib
import inspect
import ssl as ssl_module
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict, TypeVar

# Read at run time too: typing.get_type_hints() resolves the TypedDicts' annotations here.
from .charge_point import ChargePoint
from .observe import Observer

__all__ = [
    "ClientOptions",
    "CommonOptions",
    "Option",
    "ServerOptions",
    "markdown",
    "options_of",
    "resolve",
    "signature_parameters",
    "spell_out",
]

MIB = 1024 * 1024


@dataclass(frozen=True)
class Option:
    """What an option is, besides its name and type (which the TypedDict field gives)."""

    default: Any
    doc: str
    #: A keyword argument of the engine (``Engine.__init__``) under the same name.
    engine: bool = False


class CommonOptions(TypedDict, total=False):
    """Options of both sides: a :class:`~ocppfast.CentralSystem` and :func:`~ocppfast.connect`."""

    call_timeout: Annotated[
        float, Option(30.0, "Seconds a CALL we send waits for its answer (0: forever).", True)
    ]
    max_outstanding: Annotated[
        int,
        Option(
            1,
            "CALLs of ours on the wire at once; more wait in FIFO order (OCPP-J allows 1).",
            True,
        ),
    ]
    validate_incoming: Annotated[
        bool, Option(True, "Check received payloads against their schema.", True)
    ]
    validate_outgoing: Annotated[
        bool,
        Option(True, "Check our payloads before sending (a failure raises PayloadError).", True),
    ]
    max_bad_messages: Annotated[
        int, Option(10, "Bad messages in a row before the connection is closed (0: never).", True)
    ]
    max_unanswered_calls: Annotated[
        int,
        Option(
            4,
            "CALLs the peer may send without waiting for our answers before it is closed with "
            "1008 (OCPP-J allows one at a time; 0: no limit).",
            True,
        ),
    ]
    max_frames_per_tick: Annotated[
        int,
        Option(32, "Frames of one peer handled per event-loop iteration (0: no limit).", True),
    ]
    max_write_buffer: Annotated[
        int,
        Option(4 * MIB, "Bytes queued for a peer that does not read before it is dropped.", True),
    ]
    write_timeout: Annotated[
        float,
        Option(30.0, "Seconds a peer may not read its answers before it is dropped.", True),
    ]
    close_timeout: Annotated[
        float,
        Option(5.0, "Seconds the closing handshake waits for the peer's Close frame.", True),
    ]
    max_message_size: Annotated[
        int, Option(MIB, "Largest message accepted (reassembled fragments included), bytes.")
    ]
    read_buffer_size: Annotated[int, Option(4096, "Initial read buffer per connection, bytes.")]
    ssl: Annotated[
        ssl_module.SSLContext | None,
        Option(None, "TLS context (security profiles 2 and 3; a client certificate for 3)."),
    ]
    observer: Annotated[
        Observer | None,
        Option(
            None,
            "An ocppfast.observe.Observer, e.g. ocppfast.observe.Metrics(); the frame tracer "
            "is added when the ocppfast.wire logger is enabled for DEBUG.",
        ),
    ]


class ServerOptions(CommonOptions, total=False):
    """Options of :class:`ocppfast.CentralSystem` (``serve()`` and ``run()`` pass them on)."""

    require_boot: Annotated[
        bool,
        Option(
            False,
            "Answer CALLs before an accepted BootNotification with SecurityError (1.6 errata; "
            "2.0.1 B02.FR.09).",
            True,
        ),
    ]
    passwords: Annotated[
        dict[str, str] | None,
        Option(None, "identity -> password for HTTP Basic auth (security profiles 1 and 2)."),
    ]
    authenticate: Annotated[
        Callable[[str, str], bool] | None,
        Option(None, "authenticate(identity, password) -> bool, a plain function."),
    ]
    identity_known: Annotated[
        Callable[[str], bool] | None,
        Option(None, "identity_known(identity) -> bool; unknown identities get HTTP 404."),
    ]
    verify_certificate: Annotated[
        Callable[[str, dict[str, Any]], bool] | None,
        Option(
            None,
            "verify_certificate(identity, cert) -> bool (security profile 3; default: the "
            "certificate's CN is the identity).",
        ),
    ]
    duplicate_identity: Annotated[
        typing.Literal["replace", "reject"],
        Option("replace", "A second connection of a connected identity: replace or reject (409)."),
    ]
    handshake_timeout: Annotated[
        float, Option(10.0, "Seconds a client has to complete the WebSocket handshake.")
    ]
    ping_interval: Annotated[
        float, Option(60.0, "Seconds of silence before a station is pinged (0: no keepalive).")
    ]
    ping_timeout: Annotated[
        float, Option(30.0, "Seconds a pinged station has to answer before it is dropped.")
    ]
    use_aiofastnet: Annotated[
        bool, Option(False, "Use aiofastnet's transport instead of uvloop's (more memory).")
    ]
    on_connect: Annotated[
        Callable[[ChargePoint], object] | None,
        Option(None, "on_connect(cp) when a station is registered (sync or async)."),
    ]
    on_disconnect: Annotated[
        Callable[[ChargePoint], object] | None,
        Option(None, "on_disconnect(cp) when a registered station is gone (sync or async)."),
    ]
    max_handshakes: Annotated[
        int, Option(4096, "Connections in their upgrade at once; over it, HTTP 503.")
    ]
    max_handshakes_per_address: Annotated[int, Option(256, "The same, per client address.")]
    max_connections: Annotated[
        int | None, Option(None, "Open connections at most; over it, HTTP 503 with Retry-After.")
    ]


class ClientOptions(CommonOptions, total=False):
    """Options of :func:`ocppfast.connect`."""

    password: Annotated[
        str | None,
        Option(None, "HTTP Basic auth password, sent as identity:password (profiles 1 and 2)."),
    ]
    reconnect: Annotated[
        bool,
        Option(
            False,
            "Retry the first connection and re-open a lost one, with randomized backoff.",
        ),
    ]
    reconnect_deadline: Annotated[
        float | None,
        Option(None, "With reconnect: seconds to keep trying for the first connection."),
    ]
    wait_for_reconnect: Annotated[
        bool, Option(False, "Calls made while disconnected wait for the reconnection.")
    ]
    backoff_min: Annotated[
        float, Option(1.0, "First reconnect wait, seconds (2.0.1 RetryBackOffWaitMinimum).")
    ]
    backoff_random: Annotated[
        float, Option(1.0, "Random part added to each wait (RetryBackOffRandomRange).")
    ]
    backoff_repeat: Annotated[
        int, Option(5, "How many times the wait doubles (RetryBackOffRepeatTimes).")
    ]
    connect_timeout: Annotated[
        float, Option(10.0, "Seconds for the TCP, TLS and WebSocket handshakes.")
    ]
    ping_interval: Annotated[
        float, Option(0.0, "Seconds of silence before the client pings (0: no keepalive).")
    ]
    ping_timeout: Annotated[float, Option(10.0, "Seconds the central system has to answer a ping.")]
    local_addr: Annotated[
        tuple[str, int] | None, Option(None, "Local (host, port) to connect from.")
    ]


_SIDES: dict[str, type[Any]] = {"CentralSystem": ServerOptions, "connect": ClientOptions}


def options_of(schema: type[Any]) -> dict[str, tuple[Any, Option]]:
    """name -> (type, :class:`Option`) of one of the TypedDicts above, in definition order."""
    cached = _cache.get(schema)
    if cached is None:
        hints = typing.get_type_hints(schema, include_extras=True)
        cached = {}
        for name, hint in hints.items():
            base, *meta = typing.get_args(hint)
            option = next(m for m in meta if isinstance(m, Option))
            cached[name] = (base, option)
        _cache[schema] = cached
    return cached


_cache: dict[type[Any], dict[str, tuple[Any, Option]]] = {}


def resolve(where: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """Every option of ``where`` (``"CentralSystem"`` or ``"connect"``): ``given`` over the
    defaults. An unknown name is a ``TypeError`` naming it, with the closest known name, or
    saying which side has it."""
    known = options_of(_SIDES[where])
    unknown = [name for name in given if name not in known]
    if unknown:
        raise TypeError(_unknown_message(where, unknown[0], known))
    return {name: given.get(name, option.default) for name, (_, option) in known.items()}


def _unknown_message(where: str, name: str, known: Mapping[str, Any]) -> str:
    call = f"{where}()"
    for other, schema in _SIDES.items():
        if other != where and name in options_of(schema):
            return f"{call} has no option {name!r}: it is an option of {other}() only"
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{call} got an unknown option {name!r}{hint} (options: docs/options.md)"


def engine_options(resolved: Mapping[str, Any]) -> dict[str, Any]:
    """The resolved options that are keyword arguments of the engine."""
    every = {**options_of(ServerOptions), **options_of(ClientOptions)}
    return {name: value for name, value in resolved.items() if every[name][1].engine}


def _type_name(tp: Any) -> str:
    text = tp.__name__ if isinstance(tp, type) else repr(tp)
    for noise in (
        "typing.",
        "collections.abc.",
        "ssl.",
        "ocppfast.charge_point.",
        "ocppfast.observe.",
    ):
        text = text.replace(noise, "")
    return text


def signature_parameters(where: str) -> list[inspect.Parameter]:
    """``inspect.Parameter`` objects of ``where``'s options (keyword-only, with defaults)."""
    return [
        inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, default=option.default, annotation=_type_name(tp)
        )
        for name, (tp, option) in options_of(_SIDES[where]).items()
    ]


F = TypeVar("F", bound=Callable[..., Any])


def spell_out(where: str) -> Callable[[F], F]:
    """Decorator: the function's ``__signature__`` lists each option of ``where`` in place of
    ``**options``, so ``help()``, ``inspect.signature`` and IDEs show them with defaults."""

    def decorate(fn: F) -> F:
        sig = inspect.signature(fn)
        params = [p for p in sig.parameters.values() if p.kind is not p.VAR_KEYWORD]
        fn.__signature__ = sig.replace(  # type: ignore[attr-defined]
            parameters=params + signature_parameters(where)
        )
        return fn

    return decorate


def markdown() -> str:
    """``docs/options.md``: every option, its type, default and meaning, per side."""
    out = [
        "# Connection options\n\n",
        "<!-- Generated by tools/gen_options_doc.py from ocppfast/options.py -- do not edit;\n",
        "     tests/test_options.py checks it is current. -->\n\n",
        "Keyword arguments of `ocppfast.CentralSystem(...)` (and `ocppfast.serve()`) and of\n",
        "`ocppfast.connect(...)`, defined once in `ocppfast/options.py`. An unknown name is a\n",
        "`TypeError` that names it and suggests the closest one (or says which side has it);\n",
        "mypy checks names and types too.\n",
    ]
    common = options_of(CommonOptions)
    for title, schema, skip in (
        ("Both sides", CommonOptions, set()),
        ("`CentralSystem` only", ServerOptions, set(common)),
        ("`connect()` only", ClientOptions, set(common)),
    ):
        out.append(f"\n## {title}\n\n| option | type | default | meaning |\n|---|---|---|---|\n")
        for name, (tp, option) in options_of(schema).items():
            if name in skip:
                continue
            engine = " (engine)" if option.engine else ""
            shown = _type_name(tp).replace("|", "\\|")  # a table cell
            out.append(f"| `{name}` | `{shown}` | `{option.default!r}` | {option.doc}{engine} |\n")
    out.append(
        "\n(engine): also a keyword argument of `ocppfast.engine.Engine`, under the same name.\n"
    )
    return "".join(out)
