# Augmenting declarations for ocppfast/_datetime.py when compiled by Cython (ocppfast._datetime_c):
# the scan runs on the str's code points as C integers, with no Python object per character.
cimport cython

cdef object _gmtime, _strftime
# time.time itself, kept where no module dictionary shows it: whoever replaces time.time (or
# this module's _time) everywhere, a test's fake clock, is still told apart from it in now()
cdef object _system_time
cdef long long _last_ms, _second
cdef str _last, _prefix
cdef bytes _last_bytes, _prefix_bytes

@cython.locals(t=double, ms=cython.longlong, second=cython.longlong, milli=cython.longlong,
               stamp=bytes, out=cython.p_char, text=str)
cpdef str now()
cpdef reset()
cpdef bytes last_stamp()

cdef bint _COMPILED

# _scan reads nothing past s[n - 1] (every index is checked against n first): the code units
# of the str's one-byte storage, as C integers.
@cython.locals(c=long)
cdef inline long _digit(const unsigned char* s, Py_ssize_t i) noexcept

@cython.locals(a=long, b=long)
cdef inline long _two(const unsigned char* s, Py_ssize_t i) noexcept

@cython.locals(n=Py_ssize_t)
cpdef bint is_rfc3339(str value)

@cython.locals(i=Py_ssize_t, start=Py_ssize_t, hi=long, lo=long, month=long, day=long, last=long,
               hour=long, minute=long, second=long, c=long)
cdef bint _scan(const unsigned char* s, Py_ssize_t n) noexcept

cpdef object search(str value)

cdef class Pattern:
    cdef readonly str pattern
    cdef readonly object search
