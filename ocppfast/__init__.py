"""ocppfast: fast, spec-correct OCPP-J (1.6, 2.0.1, 2.1) for Python.

Central system::

    cs = ocppfast.CentralSystem(versions=["ocpp2.0.1", "ocpp1.6"])
    cs.on("BootNotification", lambda cp, req: ...)
    await cs.start("0.0.0.0", 9000)

Charging station::

    cp = await ocppfast.connect("ws://csms:9000/ocpp", "CP-1", versions=["ocpp1.6"])
    res = await cp.call(BootNotificationRequest(charge_point_vendor="V", charge_point_model="M"))
"""

from . import errors, versions
from .charge_point import ChargePoint
from .client import SubprotocolError, connect
from .clock import now
from .engine import COMPILED as _ENGINE_COMPILED
from .errors import CallTimeoutError, ConnectionClosedError, NotConnectedError, OCPPError
from .server import CentralSystem, serve
from .wire import COMPILED as _WIRE_COMPILED
from .workers import run

__version__ = "0.1.0"

#: "cython" when the compiled hot path is in use, "python" for the pure-Python fallback
#: (``OCPPFAST_NO_EXTENSIONS=1`` forces it).
implementation = "cython" if (_ENGINE_COMPILED and _WIRE_COMPILED) else "python"

__all__ = [
    "CallTimeoutError",
    "CentralSystem",
    "ChargePoint",
    "ConnectionClosedError",
    "NotConnectedError",
    "OCPPError",
    "SubprotocolError",
    "connect",
    "errors",
    "implementation",
    "now",
    "run",
    "serve",
    "versions",
]
