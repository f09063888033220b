"""Messages between nodes on their Redis channels: msgspec Structs in msgpack, tagged.

Payloads travel as the JSON bytes of the OCPP payload, so each side decodes once: the owner
checks a routed CALL's payload against its station's version, the caller decodes the answer with
that version's response decoder (the subprotocol travels in the result).
"""

from __future__ import annotations

import msgspec

__all__ = [
    "CLOSED",
    "ERROR",
    "INTERNAL",
    "NOT_HERE",
    "PAYLOAD",
    "RESULT",
    "RESULT_ERROR",
    "TIMEOUT",
    "TYPE",
    "VALUE",
    "Call",
    "Evict",
    "Item",
    "Many",
    "Message",
    "Result",
    "Results",
    "decode",
    "encode",
]

# Outcome kinds of one routed call.
RESULT = 0  # CALLRESULT: body is its payload
ERROR = 1  # CALLERROR (or the owner refused the payload): code, description, details
RESULT_ERROR = 2  # OCPP 2.1 CALLRESULTERROR
TIMEOUT = 3  # no answer within the timeout: description is the unique id
CLOSED = 4  # not connected on the owner (any more)
VALUE = 5  # ValueError (unknown action for the station's version)
TYPE = 6  # TypeError
INTERNAL = 7  # anything else (its text stays in the owner's log)
NOT_HERE = 8  # the node does not hold the station (a caller's cached route was stale)
PAYLOAD = 9  # the payload fails the station's schema (PayloadError: code, description)


class Call(msgspec.Struct, tag="c", array_like=True):
    rid: int
    src: str  # the caller's node id: the result goes to its channel
    identity: str
    action: str
    payload: bytes  # JSON
    timeout: float  # 0 = the owner's call_timeout
    expires: float  # caller's wall clock: an owner that sees it later drops the call


class Many(msgspec.Struct, tag="m", array_like=True):
    rid: int
    src: str
    identities: list[str] | None  # None: every station of the node
    action: str
    payload: bytes
    timeout: float
    expires: float


class Result(msgspec.Struct, tag="r", array_like=True):
    rid: int
    kind: int
    subprotocol: str = ""
    body: bytes = b""  # RESULT: JSON payload; ERROR: JSON error details
    code: str = ""
    description: str = ""


class Item(msgspec.Struct, array_like=True):
    identity: str
    kind: int
    subprotocol: str = ""
    body: bytes = b""
    code: str = ""
    description: str = ""


class Results(msgspec.Struct, tag="R", array_like=True):
    """A chunk of a :class:`Many`'s outcomes; ``last`` ends them, ``total`` is how many."""

    rid: int
    items: list[Item]
    last: bool = False
    total: int = -1


class Evict(msgspec.Struct, tag="e", array_like=True):
    """A newer connection of ``identity`` (token ``token``) is on node ``node``."""

    identity: str
    token: int
    node: str


Message = Call | Many | Result | Results | Evict

encode = msgspec.msgpack.Encoder().encode
decode = msgspec.msgpack.Decoder(Message).decode
