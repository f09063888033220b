"""Answers sent without a bytes object (compiled: ``_send_result`` assembles ``[3,<id>,<payload>]``
on the C stack behind room for the WebSocket header and picows frames it in place), over real
sockets on loopback, at the sizes where something could go wrong: the header's length forms
(payloads of 125/126 bytes and 65,535/65,536, RFC 6455 section 5.2), the largest frame the stack
buffer takes and one byte more (which must go the old way), ids of 1 and 36 characters; on the
server (unmasked) and on a station (masked in place with its own key, section 5.3). Every frame
read must be exactly ``[3,"<id>",`` + the payload msgspec encodes + ``]``. Both builds run it (the
pure one always takes the old way).
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import picows
import pytest

import ocppfast
from ocppfast import _engine

NOW = "2026-11-26T00:00:00Z"


def _expected(unique_id: str, data: str) -> bytes:
    payload = msgspec.json.encode({"status": "Accepted", "data": data})
    return b'[3,"' + unique_id.encode() + b'",' + payload + b"]"


IDS = ["1", "x" * 36, "id-with.dots_and~tilde"]
BOUNDARIES = (125, 126, 127, _engine._STACK_FRAME, 65535, 65536)


def _sizes(unique_id: str) -> list[int]:
    """Lengths of the DataTransfer ``data`` text that make the whole answer frame a few bytes
    either side of each boundary, for this id."""
    envelope = len(_expected(unique_id, ""))
    return sorted({b - envelope + d for b in BOUNDARIES for d in range(-3, 4)} | {0, 1, 2000})


class Collect(picows.WSListener):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.frames: asyncio.Queue[bytes] = asyncio.Queue()

    def on_ws_frame(self, transport: Any, frame: Any) -> None:
        if frame.msg_type == picows.WSMsgType.TEXT:
            self.frames.put_nowait(frame.get_payload_as_bytes())


async def test_server_answers_are_exact_at_every_boundary() -> None:
    cs = ocppfast.CentralSystem(ping_interval=0)
    wanted: dict[str, str] = {}
    cs.on("DataTransfer", lambda cp, req: {"status": "Accepted", "data": wanted[req.vendor_id]})
    await cs.start("127.0.0.1", 0)
    try:
        transport, client = await picows.ws_connect(
            Collect,
            f"ws://127.0.0.1:{cs.port}/ocpp/SR1",
            extra_headers={"Sec-WebSocket-Protocol": "ocpp1.6"},
            max_frame_size=1 << 20,
        )
        lengths = set()
        for unique_id in IDS:
            for size in _sizes(unique_id):
                key = f"v{size}-{len(unique_id)}"
                wanted[key] = "d" * size
                call = msgspec.json.encode([2, unique_id, "DataTransfer", {"vendorId": key}])
                transport.send(picows.WSMsgType.TEXT, call)
                got = await asyncio.wait_for(client.frames.get(), 5)
                assert got == _expected(unique_id, wanted[key]), (size, unique_id)
                lengths.add(len(got))
        for b in BOUNDARIES:  # each boundary met exactly, and one byte either side
            assert {b - 1, b, b + 1} <= lengths
        transport.disconnect()
    finally:
        await cs.close()


@pytest.mark.parametrize("size", [0, 60, 66, 67, 68, _engine._STACK_FRAME - 40, 70000])
async def test_station_answers_are_masked_and_exact(size: int) -> None:
    cs = ocppfast.CentralSystem(ping_interval=0)
    await cs.start("127.0.0.1", 0)
    try:
        data = "s" * size
        cp = await ocppfast.connect(
            f"ws://127.0.0.1:{cs.port}/ocpp",
            "SR2",
            versions=["ocpp1.6"],
            handlers={"DataTransfer": lambda req: {"status": "Accepted", "data": data}},
        )
        for _ in range(3):  # repeated: the same stack buffer, a new mask each time
            answer = await cs.call("SR2", "DataTransfer", {"vendorId": "X"})
            assert (answer.status, answer.data) == ("Accepted", data)
        await cp.close()
    finally:
        await cs.close()


def test_the_stack_frame_fits_its_buffer() -> None:
    assert _engine._HEADER_ROOM >= 14  # picows' longest header: 2 + 8 length + 4 mask bytes
    assert _engine._HEADER_ROOM + _engine._STACK_FRAME == 1040
