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
    ``sender`` says which side may send the request.
    """

    name: str
    request: type[msgspec.Struct]
    response: type[msgspec.Struct] | None
    sender: Sender
    request_decoder: msgspec.json.Decoder[Any]
    response_decoder: msgspec.json.Decoder[Any] | None


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
