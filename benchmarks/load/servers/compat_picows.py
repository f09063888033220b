"""The mobilityhouse-style central system of ``mobilityhouse.py`` on ``ocppfast.compat.serve``.

The same ``BenchChargePoint`` class (``benchmarks/compat/app.py``, written against ``ocpp``), the
same ``on_connect`` handler and fan-out, with ``ocppfast.compat.install()`` first; only the server
changes: ``ocppfast.compat.serve(...)`` (picows + uvloop) takes ``websockets.serve``'s place.
The ``compat-picows`` server of the harness.
"""

from __future__ import annotations

import os

os.environ["BENCH_COMPAT"] = "1"  # mobilityhouse.py installs the alias before importing ocpp

# on_connect's ``except websockets.exceptions.ConnectionClosed`` needs the submodule loaded (the
# websockets package imports it lazily); compat's own ConnectionClosed ends the handler instead
# and ``Server`` takes it as a normal close.
import websockets.exceptions  # noqa: F401

import ocppfast
import ocppfast.compat

from .. import frames
from .launcher import launch, use_aiofastnet
from .mobilityhouse import MobilityhouseServer


class CompatPicowsServer(MobilityhouseServer):
    impl = (
        f"mobilityhouse code on ocppfast.compat {ocppfast.__version__} "
        f"({ocppfast.implementation}) on picows"
    )

    async def start(self, host: str, port: int) -> int:
        self.server = await ocppfast.compat.serve(
            self.on_connect,
            host,
            port,
            subprotocols=[frames.SUBPROTOCOL],
            backlog=4096,
            use_aiofastnet=use_aiofastnet(),
        )
        return int(self.server.sockets[0].getsockname()[1])


if __name__ == "__main__":
    launch(CompatPicowsServer)
