"""One write per read (issue 14): the frames a server writes while handling the frames of one
socket read go out together, after the last of them, in order, and before any Close.

Counted honestly, by the kernel: ``TCP_INFO``'s ``tcpi_data_segs_out`` of the server's socket
(Linux) counts the data segments it sent. picows sets TCP_NODELAY, so on loopback each write of
a few hundred bytes is one segment: N replies written one by one are N segments, coalesced they
are one. A control run with coalescing switched off shows the count tells the two apart.
Real sockets on loopback, both builds; no timing assertions.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

import msgspec
import pytest

import ocppfast
from tests.test_abuse import _parse, raw_connect, ws_frame
from tests.test_server import make_cs

HEARTBEAT = b'[2,"%d","Heartbeat",{}]'
# struct tcp_info (linux/tcp.h): tcpi_data_segs_out is the u32 at byte offset 156 (Linux 4.6+).
_DATA_SEGS_OUT = 156

pytestmark = pytest.mark.skipif(
    not hasattr(socket, "TCP_INFO"), reason="TCP_INFO (Linux) counts the segments"
)


def data_segs_out(cp: Any) -> int:
    sock = cp.transport.underlying_transport.get_extra_info("socket")
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    assert len(info) >= _DATA_SEGS_OUT + 4, "kernel without tcpi_data_segs_out"
    return int(struct.unpack_from("I", info, _DATA_SEGS_OUT)[0])


def recv_texts(sock: socket.socket, count: int) -> list[Any]:
    """Read server frames until ``count`` TEXT messages arrived (fails on EOF or timeout)."""
    data = b""
    sock.settimeout(10)
    while True:
        texts, _ = _parse(data)
        if len(texts) >= count:
            return texts
        chunk = sock.recv(1 << 20)
        assert chunk, f"EOF after {len(texts)} of {count} messages"
        data += chunk


async def _pipelined(
    cs: ocppfast.CentralSystem, identity: str, frames: list[bytes], coalesce: bool = True
) -> tuple[list[Any], int]:
    """Send ``frames`` in one write; return the answers and the server's data segments for them."""
    loop = asyncio.get_running_loop()
    sock = await loop.run_in_executor(None, raw_connect, cs.port, identity)
    try:
        while identity not in cs.charge_points:
            await asyncio.sleep(0.005)
        cp = cs.charge_points[identity]
        if not coalesce:
            cp.coalesce = False
        before = data_segs_out(cp)
        await loop.run_in_executor(None, sock.sendall, b"".join(ws_frame(f) for f in frames))
        texts = await loop.run_in_executor(None, recv_texts, sock, len(frames))
        return texts, data_segs_out(cp) - before
    finally:
        sock.close()


async def test_answers_to_one_read_are_one_write() -> None:
    cs = await make_cs(max_unanswered_calls=0)
    try:
        texts, segments = await _pipelined(cs, "PIPE", [HEARTBEAT % i for i in range(10)])
        assert [t[:2] for t in texts] == [[3, str(i)] for i in range(10)]
        assert segments == 1
    finally:
        await cs.close()


async def test_control_without_coalescing_the_count_differs() -> None:
    """The measure can fail: the same read answered frame by frame is several segments."""
    cs = await make_cs(max_unanswered_calls=0)
    try:
        texts, segments = await _pipelined(
            cs, "PIPE", [HEARTBEAT % i for i in range(10)], coalesce=False
        )
        assert [t[1] for t in texts] == [str(i) for i in range(10)]
        assert segments > 1
    finally:
        await cs.close()


@pytest.mark.parametrize("big", [1000, 70_000])
async def test_mixed_answers_and_frame_lengths_keep_their_order(big: int) -> None:
    """CALLRESULTs and CALLERRORs (an unknown action, a bad payload, a bad frame) of one read,
    with payloads under 126 bytes (125 at the edge), of a 16-bit and (``big``) a 64-bit length,
    in the order of the CALLs, in one write (70 kB being more than one loopback segment, the
    segments are counted without it)."""
    cs = await make_cs(max_unanswered_calls=0)
    cs.on(
        "DataTransfer",
        lambda cp, req: {"status": "Accepted", "data": "x" * int(req.data or "0")},
    )

    def transfer(uid: str, size: int) -> bytes:
        return b'[2,"%s","DataTransfer",{"vendorId":"v","data":"%d"}]' % (uid.encode(), size)

    frames = [
        transfer("a", 1),
        b'[2,"b","NoSuchAction",{}]',
        transfer("c", 300),
        b'[2,"d","Heartbeat",{"x":1}]',
        transfer("e", big),
        b"[2,",
        HEARTBEAT % 7,
        transfer("f", 125 - len(b'[3,"f",{"status":"Accepted","data":""}]')),
    ]
    try:
        texts, segments = await _pipelined(cs, "MIXED", frames)
        assert [t[0] for t in texts] == [3, 4, 3, 4, 3, 4, 3, 3]
        assert [t[1] for t in texts[:5]] == ["a", "b", "c", "d", "e"]
        assert texts[6][1] == "7" and texts[7][1] == "f"
        assert [len(texts[i][2]["data"]) for i in (0, 2, 4)] == [1, 300, big]
        assert len(msgspec.json.encode(texts[7])) == 125
        if big < 65_000:
            assert segments == 1
    finally:
        await cs.close()


async def test_backlog_turns_write_once_each() -> None:
    """A read past ``max_frames_per_tick`` (4) is worked off over several loop iterations: each
    turn's answers are one write (12 CALLs: 3 writes), all in order."""
    cs = await make_cs(max_unanswered_calls=0, max_frames_per_tick=4)
    try:
        texts, segments = await _pipelined(cs, "TURNS", [HEARTBEAT % i for i in range(12)])
        assert [t[1] for t in texts] == [str(i) for i in range(12)]
        assert segments == 3
    finally:
        await cs.close()
