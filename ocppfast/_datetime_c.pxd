# Augmenting declarations for ocppfast/_datetime.py when compiled by Cython (ocppfast._datetime_c):
# the scan runs on the str's code points as C integers, with no Python object per character.
cimport cython

cdef object _gmtime, _strftime
cdef long long _last_ms, _second
cdef str _last, _prefix

@cython.locals(t=double, ms=cython.longlong, second=cython.longlong)
cpdef str now()
cpdef reset()

@cython.locals(c=long)
cdef long _digit(str value, Py_ssize_t i) noexcept

@cython.locals(a=long, b=long)
cdef long _two(str value, Py_ssize_t i) noexcept

@cython.locals(n=Py_ssize_t, i=Py_ssize_t, start=Py_ssize_t, hi=long, lo=long, month=long,
               day=long, last=long, hour=long, minute=long, second=long, c=Py_UCS4)
cpdef bint is_rfc3339(str value)

cpdef object search(str value)

cdef class Pattern:
    cdef readonly str pattern
    cdef readonly object search
