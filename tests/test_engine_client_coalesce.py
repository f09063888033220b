"""One write per read on the station (client) side too: the answers a station writes while
handling the CALLs of one socket read go out together, each frame masked with its own key
(RFC 6455 section 5.3), in order.

A raw WebSocket server on loopback (the handshake written here) sends CALLs in one write; the
frames the ``ocppfast.connect`` station answers with are parsed and unmasked here, independently
of the library, and ``TCP_INFO``'s ``tcpi_data_segs_out`` of the station's socket counts its
writes (see tests/test_engine_coalesce.py). A control run with coalescing off shows the count
tells the two apart. Both builds; no timing assertions.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import socket
from typing import Any

import pytest

import ocppfast
from ocppfast import _engine
from tests.test_engine_coalesce import data_segs_out

pytestmark = pytest.mark.skipif(
    not hasattr(socket, "TCP_INFO"), reason="TCP_INFO (Linux) counts the segments"
)

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3


def server_frame(payload: bytes) -> bytes:
    """An unmasked final TEXT frame (a server's)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return b"\x81\x7e" + n.to_bytes(2, "big") + payload
    return b"\x81\x7f" + n.to_bytes(8, "big") + payload


def parse_client_frames(data: bytes) -> tuple[list[tuple[int, bytes, bytes]], bytes]:
    """(opcode, mask key, unmasked payload) of each complete client frame; the rest."""
    out = []
    while len(data) >= 2:
        assert data[1] & 0x80, "a client frame is masked"
        n = data[1] & 0x7F
        at = 2
        if n == 126:
            n, at = int.from_bytes(data[2:4], "big"), 4
        elif n == 127:
            n, at = int.from_bytes(data[2:10], "big"), 10
        if len(data) < at + 4 + n:
            break
        key = data[at : at + 4]
        body = data[at + 4 : at + 4 + n]
        out.append((data[0], key, bytes(b ^ key[i % 4] for i, b in enumerate(body))))
        data = data[at + 4 + n :]
    return out, data


class RawServer:
    """Accepts one WebSocket (ocpp1.6); ``send`` writes bytes as they are; ``frames`` reads."""

    def __init__(self) -> None:
        self.accepted: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.get_running_loop().create_future()
        )
        self.buffer = b""

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handshake, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
        )
        self.accepted.set_result((reader, writer))

    async def frames(self, count: int) -> list[tuple[int, bytes, bytes]]:
        reader, _ = await self.accepted
        got: list[tuple[int, bytes, bytes]] = []
        while len(got) < count:
            chunk = await asyncio.wait_for(reader.read(1 << 20), 10)
            assert chunk, f"EOF after {len(got)} of {count} frames"
            frames, self.buffer = parse_client_frames(self.buffer + chunk)
            got += frames
        return got

    async def close(self) -> None:
        if self.accepted.done():
            self.accepted.result()[1].close()
        self.server.close()
        await self.server.wait_closed()


def calls(count: int, size: int = 10) -> list[bytes]:
    return [
        json.dumps([2, f"c{i}", "DataTransfer", {"vendorId": "V", "data": str(i) * size}]).encode()
        for i in range(count)
    ]


async def _station_answers(
    frames: list[bytes], coalesce: bool = True
) -> tuple[list[tuple[int, bytes, bytes]], int]:
    raw = RawServer()
    port = await raw.start()
    cp = await ocppfast.connect(
        f"ws://127.0.0.1:{port}",
        "S1",
        versions=["ocpp1.6"],
        reconnect=False,
        ping_interval=0,
        max_unanswered_calls=0,
        handlers={"DataTransfer": lambda req: {"status": "Accepted", "data": req.data}},
    )
    try:
        _, writer = await raw.accepted
        if not coalesce:
            cp.coalesce = False
        before = data_segs_out(cp)
        writer.write(b"".join(server_frame(f) for f in frames))
        got = await raw.frames(len(frames))
        return got, data_segs_out(cp) - before
    finally:
        cp.close_transport(1000, b"")
        await raw.close()


def _expected(frames: list[bytes]) -> list[Any]:
    return [
        [3, json.loads(f)[1], {"status": "Accepted", "data": json.loads(f)[3]["data"]}]
        for f in frames
    ]


@pytest.mark.parametrize("size", [10, 200, 70_000], ids=["short", "16-bit length", "64-bit length"])
def test_station_answers_of_one_read_go_out_in_one_write(size: int) -> None:
    async def main() -> None:
        frames = calls(5, size)
        got, writes = await _station_answers(frames)
        assert [op for op, _, _ in got] == [0x81] * 5
        assert [json.loads(body) for _, _, body in got] == _expected(frames)  # in order
        assert len({key for _, key, _ in got}) == 5  # a key per frame
        if size == 10:
            assert writes == 1  # one write, one segment (larger ones span several)

    asyncio.run(main())


def test_control_without_coalescing_writes_each_answer() -> None:
    async def main() -> None:
        frames = calls(5)
        got, writes = await _station_answers(frames, coalesce=False)
        assert [json.loads(body) for _, _, body in got] == _expected(frames)
        assert writes == 5

    asyncio.run(main())


@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 125, 126, 65535, 65536])
def test_client_frame_masks_as_the_rfc_says(n: int) -> None:
    # The pure build's masking (compiled, _client_frame is a C function: the loopback tests
    # above check its frames, unmasked here independently).
    data = os.urandom(n)
    key = os.urandom(4)
    frames, rest = parse_client_frames(_engine._client_frame(data, key))
    assert (frames, rest) == ([(0x81, key, data)], b"")
