"""``now()``: the current UTC time as an OCPP date-time string, cheap enough to call per message.

OCPP date-times are RFC 3339 (1.6 section 3.5 / 2.0.1 part 2 section 2.1.3 "dateTime": UTC,
``Z`` suffix recommended). Handlers answer BootNotification and Heartbeat with the current time;
``datetime.now(UTC).isoformat()`` costs about a microsecond and ``time.strftime`` more (measured
in issue 14). ``now()`` formats once per millisecond and returns the cached string otherwise;
within one second only the millisecond digits change, so the date part is formatted once a second.

The implementation is ``ocppfast._datetime`` (with the date-time check the generated types run),
compiled as ``_datetime_c`` when built; ``IMPL`` is the module in use, ``COMPILED`` says which.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType

from . import _datetime
from ._speedups import USE_EXTENSIONS

__all__ = ["COMPILED", "IMPL", "last_stamp", "now"]

IMPL: ModuleType = _datetime
COMPILED = False
if USE_EXTENSIONS:  # no picows inside: any build of _datetime_c will do
    try:
        IMPL = importlib.import_module("ocppfast._datetime_c")
        COMPILED = True
    except ImportError:
        pass

#: The current UTC time as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (RFC 3339, millisecond precision).
now: Callable[[], str] = IMPL.now
#: The last string :func:`now` returned, ASCII-encoded (``b""`` if none): the engine skips the
#: re-check of an answer whose only change is this stamp (see ``Engine._answer``).
last_stamp: Callable[[], bytes] = IMPL.last_stamp
