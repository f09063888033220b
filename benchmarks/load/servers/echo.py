"""Raw picows echo server: the transport's limit.

Answers each CALL with a canned CALLRESULT; parses only the message id (to echo it) and the first
letter of the action (to pick a canned payload). No OCPP validation, no handler dispatch: whatever
an OCPP server costs above this is the price of being an OCPP server.
"""

from __future__ import annotations

import asyncio
from typing import Any

from picows import (
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_create_server,
)

from .. import frames
from .launcher import launch, use_aiofastnet

TEXT = WSMsgType.TEXT
CLOSE = WSMsgType.CLOSE
_RESULTS = frames.ECHO_RESULTS
_EMPTY = frames.ECHO_EMPTY_RESULT
_RESULT_HEAD = frames.RESULT_HEAD
_message_id = frames.message_id


class EchoConnection(WSListener):
    def __init__(self, server: EchoServer) -> None:
        super().__init__()
        self.server = server
        self.transport: WSTransport | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.server.connections.add(self)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.server.connections.discard(self)

    def on_ws_frame(self, transport: WSTransport, frame: Any) -> None:
        if frame.msg_type is not TEXT:
            if frame.msg_type is CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()
            return
        data = frame.get_payload_as_bytes()
        if data[1] == 0x32:  # '[2,"<id>","<Action>",...': a CALL
            _, mid, rest = data.split(b'"', 2)
            transport.send(TEXT, _RESULT_HEAD + mid + _RESULTS.get(rest[2], _EMPTY))
        else:  # an answer to our fan-out CALL
            self.server.answered(data[1] == 0x33)


class EchoServer:
    impl = "picows echo"

    def __init__(self) -> None:
        self.connections: set[EchoConnection] = set()
        self.server: asyncio.Server | None = None
        self._left = 0
        self._ok = 0
        self._done: asyncio.Future[None] | None = None
        self._round = 0

    def _listener(self, request: WSUpgradeRequest) -> WSUpgradeResponseWithListener:
        offered = request.headers.get("Sec-WebSocket-Protocol", "")
        headers = {}
        if frames.SUBPROTOCOL in [p.strip() for p in offered.split(",")]:
            headers["Sec-WebSocket-Protocol"] = frames.SUBPROTOCOL
        return WSUpgradeResponseWithListener(
            WSUpgradeResponse.create_101_response(extra_headers=headers), self.connection()
        )

    def connection(self) -> Any:
        return EchoConnection(self)

    async def start(self, host: str, port: int) -> int:
        self.server = await ws_create_server(
            self._listener,
            host,
            port,
            read_buffer_init_size=1024,
            websocket_handshake_timeout=30,
            backlog=4096,
            use_aiofastnet=use_aiofastnet(),
        )
        return int(self.server.sockets[0].getsockname()[1])

    def connected(self) -> int:
        return len(self.connections)

    def answered(self, ok: bool) -> None:
        self._left -= 1
        self._ok += ok
        if self._left == 0 and self._done is not None and not self._done.done():
            self._done.set_result(None)

    async def fanout(self, timeout: float) -> tuple[int, int, int]:
        self._round += 1
        conns = [c for c in self.connections if c.transport is not None]
        self._left, self._ok = len(conns), 0
        self._done = asyncio.get_running_loop().create_future()
        if not conns:
            return 0, 0, 0
        head = b'[2,"f%d-' % self._round
        for i, c in enumerate(conns):
            c.transport.send(TEXT, head + b"%d" % i + frames.TRIGGER)  # type: ignore[union-attr]
        try:
            await asyncio.wait_for(asyncio.shield(self._done), timeout)
        except TimeoutError:
            pass
        answered = len(conns) - self._left
        return len(conns), self._ok, answered - self._ok + self._left

    async def close(self) -> None:
        for c in list(self.connections):
            if c.transport is not None:
                c.transport.disconnect()
        if self.server is not None:
            self.server.close()


if __name__ == "__main__":
    launch(EchoServer)
