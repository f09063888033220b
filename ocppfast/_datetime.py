# cython: annotation_typing=False
"""RFC 3339 date-times, compiled with ``_datetime_c.pxd``: the check as a byte scan, and ``now()``.

The generated Structs check ``format: date-time`` with the pattern ``RFC3339_PATTERN`` of
``tools/gen_messages.py`` (QUIRKS Q2). msgspec runs a ``Meta(pattern=...)`` through Python's
``re`` for every decoded date-time: about 7k instructions per field (issue 14). ``is_rfc3339``
accepts exactly the strings that pattern accepts, in one pass over the characters:

- ``YYYY-MM-DD``: four ASCII digits, year 0000 refused; month 01-12; day 01 up to the month's
  length, 29 February only in Gregorian leap years (divisible by 4 and not by 100, or by 400);
- ``T`` or ``t``; ``HH:MM:SS`` with 00-23, 00-59, 00-59 (no leap second ``:60``);
- an optional fraction ``.`` + one or more digits;
- ``Z`` / ``z``, or ``+HH:MM`` / ``-HH:MM`` with 00-23 and 00-59; then the end of the string
  (``\\Z``: no trailing newline).

``tests/test_datetime_check.py`` compares it with the pattern over a large corpus, in both builds.
:class:`Pattern` is what ``ocppfast.validation.date_time_meta`` hands msgspec in place of the
compiled regex: msgspec calls its ``search`` and, on a mismatch, reads its ``pattern`` for the
error message, which therefore stays word for word the same.

:func:`now` is ``ocppfast.now()`` (see ``ocppfast.clock``): the current UTC time, formatted once
per millisecond (the date part once per second) and the cached string returned otherwise.
"""

from __future__ import annotations

import time
from typing import Any

try:  # True when this module runs compiled (cython.compiled is a C constant there)
    import cython  # type: ignore[import-untyped]

    _COMPILED: bool = cython.compiled
except ImportError:  # pragma: no cover - Cython is not needed to run the pure module
    _COMPILED = False

if _COMPILED:  # the str's storage, for the compiled scan (see is_rfc3339), and now()'s bytes
    from cython.cimports.cpython.bytes import (  # type: ignore[import-untyped]
        PyBytes_AS_STRING,
        PyBytes_FromStringAndSize,
    )
    from cython.cimports.cpython.unicode import (  # type: ignore[import-untyped]
        PyUnicode_1BYTE_DATA,
        PyUnicode_GET_LENGTH,
        PyUnicode_KIND,
        PyUnicode_New,
    )
    from cython.cimports.libc.string import memcmp, memcpy  # type: ignore[import-untyped]
    from cython.cimports.posix.time import (  # type: ignore[import-untyped]
        CLOCK_REALTIME,
        clock_gettime,
        timespec,
    )

__all__ = ["Pattern", "is_rfc3339", "last_stamp", "now", "reset", "search"]

_time = time.time  # a plain module global even when compiled: tests replace it
_system_time = time.time  # compiled, a C global (see _datetime_c.pxd): now() reads the clock
_gmtime = time.gmtime
_strftime = time.strftime
_last_ms = -1
_last = ""
_last_bytes = b""
_second = -1
_prefix = ""
_prefix_bytes = b""


def now() -> str:
    """The current UTC time as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (RFC 3339, millisecond precision)."""
    global _last_ms, _last, _last_bytes, _second, _prefix, _prefix_bytes
    if _COMPILED and _time is _system_time:
        # time.time()'s clock read directly (no call through Python, no float object)
        ts = cython.declare(timespec)
        clock_gettime(CLOCK_REALTIME, cython.address(ts))
        ms = ts.tv_sec * 1000 + ts.tv_nsec // 1000000
    else:
        t = _time()
        ms = int(t * 1000)
    if ms == _last_ms:
        return _last
    second = ms // 1000
    if second != _second:
        _second = second
        _prefix = _strftime("%Y-%m-%dT%H:%M:%S.", _gmtime(second))
        _prefix_bytes = _prefix.encode("ascii")
    _last_ms = ms
    if _COMPILED and len(_prefix_bytes) == 20:
        # The same characters, written into the bytes at once: the 20 of the prefix, the
        # milliseconds' three digits and "Z" (no format call, no int object).
        stamp = PyBytes_FromStringAndSize(cython.NULL, 24)
        out = PyBytes_AS_STRING(stamp)
        memcpy(out, cython.cast(cython.p_char, _prefix_bytes), 20)
        milli = ms % 1000
        out[20] = 48 + milli // 100
        out[21] = 48 + milli // 10 % 10
        out[22] = 48 + milli % 10
        out[23] = 90  # Z
        _last_bytes = stamp
        text: str = PyUnicode_New(24, 127)
        memcpy(PyUnicode_1BYTE_DATA(text), out, 24)
        _last = text
        return text
    _last = f"{_prefix}{ms % 1000:03d}Z"
    _last_bytes = _last.encode("ascii")
    return _last


def last_stamp() -> bytes:
    """The last string :func:`now` returned, ASCII-encoded (``b""`` before the first call or
    after :func:`reset`): always a valid RFC 3339 date-time of the same 24-character shape."""
    return _last_bytes


def reset() -> None:
    """Forget the cached time (the next :func:`now` formats afresh)."""
    global _last_ms, _second, _last_bytes
    _last_ms = -1
    _second = -1
    _last_bytes = b""


def _digit(s: bytes, i: int) -> int:
    """The ASCII digit at ``s[i]`` (0-9), or -1 for anything else."""
    c = s[i] - 48
    return c if 0 <= c <= 9 else -1


def _two(s: bytes, i: int) -> int:
    """Two ASCII digits at ``s[i:i + 2]`` as a number, or -1."""
    a = _digit(s, i)
    b = _digit(s, i + 1)
    if a < 0 or b < 0:
        return -1
    return a * 10 + b


def is_rfc3339(value: str) -> bool:
    """Whether ``value`` is an RFC 3339 date-time exactly as the generated pattern says."""
    n = len(value)
    if n < 20:  # YYYY-MM-DDTHH:MM:SSZ
        return False
    # The scan reads code units as integers: compiled, the str's own one-byte storage (a str
    # with a character above U+00FF has none, and cannot match); pure, its ASCII encoding.
    if _COMPILED:
        if PyUnicode_KIND(value) != 1:
            return False
        return _scan(PyUnicode_1BYTE_DATA(value), n)
    if not value.isascii():
        return False
    return _scan(value.encode("ascii"), n)


def _scan(s: bytes, n: int) -> bool:
    """:func:`is_rfc3339` over ``n`` code units ``s[0]`` .. ``s[n - 1]`` (``n`` >= 20)."""
    hi = _two(s, 0)
    lo = _two(s, 2)
    if hi < 0 or lo < 0 or (hi == 0 and lo == 0):
        return False
    if s[4] != 45 or s[7] != 45:  # '-'
        return False
    month = _two(s, 5)
    day = _two(s, 8)
    if month < 1 or month > 12 or day < 1:
        return False
    if month == 2:
        last = 28
    elif month == 4 or month == 6 or month == 9 or month == 11:
        last = 30
    else:
        last = 31
    if day > last:
        if month != 2 or day != 29:
            return False
        # Gregorian leap year: lo % 4 == 0 and lo != 0, or lo == 0 and hi % 4 == 0.
        if lo % 4 != 0 or (lo == 0 and hi % 4 != 0):
            return False
    c = s[10]
    if c != 84 and c != 116:  # 'T' 't'
        return False
    hour = _two(s, 11)
    minute = _two(s, 14)
    second = _two(s, 17)
    if s[13] != 58 or s[16] != 58:  # ':'
        return False
    if hour < 0 or hour > 23 or minute < 0 or minute > 59 or second < 0 or second > 59:
        return False
    i = 19
    if s[i] == 46:  # '.'
        i += 1
        start = i
        while i < n and _digit(s, i) >= 0:
            i += 1
        if i == start or i == n:
            return False
    c = s[i]
    if c == 90 or c == 122:  # 'Z' 'z'
        return i + 1 == n
    if c != 43 and c != 45:  # '+' '-'
        return False
    if i + 6 != n or s[i + 3] != 58:
        return False
    hour = _two(s, i + 1)
    minute = _two(s, i + 4)
    return 0 <= hour <= 23 and 0 <= minute <= 59


def search(value: str) -> object:
    """Like ``re.Pattern.search`` for a pattern anchored at both ends: truthy or ``None``."""
    return True if is_rfc3339(value) else None


class Pattern:
    """Stands in for the compiled ``RFC3339_PATTERN`` inside msgspec's ``Meta`` (see above).

    ``search`` is an attribute holding the function, not a method: msgspec looks it up on every
    check, and a stored function is found without making a bound method each time.
    """

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.search = search

    def __getattribute__(self, name: str) -> Any:
        # msgspec gets ``search`` with PyObject_CallMethod, which makes the name's str afresh for
        # every check: a new str misses CPython's type attribute cache, so the generic lookup
        # walks the MRO and hashes the name each time (~400 instructions per date-time).
        # Compiled, this slot answers that name at once (its six characters compared in place:
        # msgspec's str is of the 1-byte kind); anything else takes the usual way.
        if (
            _COMPILED
            and PyUnicode_GET_LENGTH(name) == 6
            and PyUnicode_KIND(name) == 1
            and memcmp(PyUnicode_1BYTE_DATA(name), b"search", 6) == 0
        ):
            return self.search
        return object.__getattribute__(self, name)


if not _COMPILED:  # pure Python: a Python-level __getattribute__ would cost every lookup
    delattr(Pattern, "__getattribute__")
