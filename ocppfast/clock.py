"""``now()``: the current UTC time as an OCPP date-time string, cheap enough to call per message.

OCPP date-times are RFC 3339 (1.6 section 3.5 / 2.0.1 part 2 section 2.1.3 "dateTime": UTC,
``Z`` suffix recommended). Handlers answer BootNotification and Heartbeat with the current time;
``datetime.now(UTC).isoformat()`` costs about a microsecond and ``time.strftime`` more (measured
in issue 14). ``now()`` formats once per millisecond and returns the cached string otherwise;
within one second only the millisecond digits change, so the date part is formatted once a second.
"""

from __future__ import annotations

import time

__all__ = ["now"]

_time = time.time
_gmtime = time.gmtime
_strftime = time.strftime

_last_ms = -1
_last = ""
_second = -1
_prefix = ""


def now() -> str:
    """The current UTC time as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (RFC 3339, millisecond precision)."""
    global _last_ms, _last, _second, _prefix
    ms = int(_time() * 1000)
    if ms == _last_ms:
        return _last
    second = ms // 1000
    if second != _second:
        _second = second
        _prefix = _strftime("%Y-%m-%dT%H:%M:%S.", _gmtime(second))
    _last_ms = ms
    _last = f"{_prefix}{ms % 1000:03d}Z"
    return _last
