"""What a version's generated package gives the engine: one :class:`Action` per OCPP action.

The engine is handed a version's registry (``ACTIONS``: action name -> :class:`Action`); it never
imports a version package by name. ``ocppfast.versions`` maps subprotocol names to registries.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import msgspec

Sender = Literal["charge_point", "central_system", "both"]


class Action(NamedTuple):
    """One OCPP action of one version.

    ``response`` is ``None`` for SEND-only actions (2.1 ``NotifyPeriodicEventStream``).
    ``sender`` says which side may send the request. ``custom`` marks a vendor action made by
    :func:`make_custom_action`: no schema, its payloads are JSON objects (``dict``).
    """

    name: str
    request: type[Any]
    response: type[Any] | None
    sender: Sender
    request_decoder: msgspec.json.Decoder[Any]
    response_decoder: msgspec.json.Decoder[Any] | None
    custom: bool = False


def make_action(
    name: str,
    request: type[msgspec.Struct],
    response: type[msgspec.Struct] | None,
    sender: Sender,
) -> Action:
    """Build an :class:`Action` with its decoders (used by the generated packages)."""
    return Action(
        name,
        request,
        response,
        sender,
        msgspec.json.Decoder(request),
        msgspec.json.Decoder(response) if response is not None else None,
    )


def make_custom_action(name: str) -> Action:
    """A vendor (custom) action without a schema: request and response are JSON objects, decoded
    as ``dict[str, Any]`` and otherwise unchecked. A handler may answer with a dict, ``None``
    (sent as ``{}``) or a msgspec Struct that encodes as an object."""
    return Action(
        name,
        dict,
        dict,
        "both",
        msgspec.json.Decoder(dict[str, Any]),
        msgspec.json.Decoder(dict[str, Any]),
        True,
    )
