# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The load generator's per-frame work in C: a charger's answer read, timed and the next CALL sent.

At 100 chargers on two cores a generator written in Python filled its core (100% busy in every
round of ``make load-full``) while the servers it drove sat at 60-90% of theirs: the servers were
measured half idle, each wake-up carrying few calls, and their CPU per call moved with the
generator's rhythm more than with their own work. A load generator must not be the bottleneck,
so its hot path is here, below any server it measures (the C echo floor's cost per frame).

``ChargerCore`` is a picows listener reached through picows' vtable; ``generator.Charger``
subclasses it for what is not per frame (connecting, booting, a disconnect). ``GenCore`` holds
the counters and the latency histogram that ``generator.Generator`` (its subclass) reads and
resets. Behaviour is that of the Python charger it replaces: a CALLRESULT or CALLERROR whose id
is the outstanding CALL's completes it (timed into the histogram while recording), any other
answer counts as a bad id; a central-system CALL is answered ``{"status":"Accepted"}``.
Built on first use by ``cbuild``.
"""

from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdio cimport snprintf
from libc.string cimport memcmp, memcpy
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec
from picows.picows cimport WSFrame, WSListener, WSMsgType, WSTransport

include "_not_text.pxi"

# picows writes a frame's header (up to 14 bytes with a client's mask) just before the payload
# it is handed, and masks the payload in place: frames are assembled at BUF + ROOM, one at a time
# (picows sends at once or copies what the socket did not take).
cdef enum:
    ROOM = 14
    CAP = 4096
    ID_CAP = 24
cdef char BUF[ROOM + CAP]


cdef inline double _clock() noexcept nogil:
    """time.perf_counter's clock on Linux (CLOCK_MONOTONIC), in seconds."""
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <double>ts.tv_sec + <double>ts.tv_nsec * 1e-9


cdef inline long long _bucket(long long v) noexcept nogil:
    """``hist.bucket``: exact below 256 units, then 8 significant bits and the shift."""
    cdef long long t
    cdef int shift = 0
    if v < 256:
        return v if v > 0 else 0
    t = v >> 8
    while t:
        shift += 1
        t >>= 1
    return (<long long>shift << 8) | (v >> shift)


def bucket(long long v):
    """``_bucket`` from Python (tests compare it with ``hist.bucket``)."""
    return _bucket(v)


cdef class GenCore:
    """A generator's counters and histogram, shared by its chargers' ``on_ws_frame``."""

    cdef public bint running
    cdef public bint recording
    cdef public long long calls
    cdef public long long completed
    cdef public long long bad_ids
    cdef public long long call_errors
    cdef public long long server_calls
    cdef public dict hist
    cdef public tuple rotation
    cdef public Py_ssize_t rotation_n
    cdef double inv_unit
    cdef bytes accepted

    def __init__(self, double unit_s, bytes accepted_result, tuple rotation):
        """``unit_s``: the histogram's unit (``hist.UNIT_S``); ``accepted_result``: what follows
        a central-system CALL's id in the answer; ``rotation``: the CALL suffixes sent in turn."""
        self.running = False
        self.recording = False
        self.calls = self.completed = self.bad_ids = self.call_errors = self.server_calls = 0
        self.hist = {}
        self.rotation = rotation
        self.rotation_n = len(rotation)
        self.inv_unit = 1.0 / unit_s
        self.accepted = accepted_result

    cdef inline void record(self, double elapsed):
        """One latency (seconds) into the histogram."""
        key = _bucket(<long long>(elapsed * self.inv_unit))
        self.hist[key] = self.hist.get(key, 0) + 1


cdef class ChargerCore(WSListener):
    """One simulated charger's frame path: at most one outstanding CALL (OCPP-J 1.6 section 4.1.1)."""

    cdef public GenCore gen
    cdef public object transport
    cdef WSTransport _transport
    cdef public long long seq
    cdef public double t0
    cdef public object waiter
    cdef Py_ssize_t _id_len  # 0: no CALL outstanding
    cdef char _id[ID_CAP]

    def __init__(self, GenCore gen):
        self.gen = gen
        self.transport = None
        self._transport = None
        self.seq = 0
        self.t0 = 0.0
        self.waiter = None
        self._id_len = 0

    @property
    def pending(self):
        """The outstanding CALL's id, or None."""
        return PyBytes_FromStringAndSize(self._id, self._id_len) if self._id_len else None

    cpdef on_ws_connected(self, WSTransport transport):
        self.transport = transport
        self._transport = transport

    cpdef send_call(self, bytes suffix):
        """Send ``[2,"<next id>"`` + ``suffix`` and start its clock."""
        cdef Py_ssize_t k = len(suffix)
        cdef char* out = BUF + ROOM
        cdef int n
        if k > CAP - 4 - ID_CAP:
            raise ValueError(f"a CALL of {k} bytes: the generator's buffer holds {CAP}")
        self.seq += 1
        n = snprintf(self._id, ID_CAP, b"%lld", self.seq)
        self._id_len = n
        memcpy(out, b'[2,"', 4)
        memcpy(out + 4, self._id, n)
        memcpy(out + 4 + n, <char*>suffix, k)
        self.t0 = _clock()
        self._transport.send_reuse_external_buffer(WSMsgType.TEXT, out, 4 + n + k)

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        cdef double now = _clock()
        cdef char* p = frame.payload_ptr
        cdef Py_ssize_t n = frame.payload_size
        cdef Py_ssize_t i = 1
        cdef Py_ssize_t start, end
        cdef int kind
        cdef GenCore gen = self.gen
        cdef char* out
        if not_text(transport, frame):
            return
        # [<type>,"<id>",...: the type after '[' and any whitespace; the id between the first
        # two quotes (every peer measured here sends its ids as plain strings).
        while i < n and (p[i] == b' ' or p[i] == b'\t' or p[i] == b'\r' or p[i] == b'\n'):
            i += 1
        if n < 2 or p[0] != b'[' or i >= n:
            gen.bad_ids += 1
            return
        kind = p[i] - 48
        start = i
        while start < n and p[start] != b'"':
            start += 1
        start += 1
        end = start
        while end < n and p[end] != b'"':
            end += 1
        if end >= n:
            gen.bad_ids += 1
            return
        if kind == 3 or kind == 4:
            if (
                self._id_len == 0
                or end - start != self._id_len
                or memcmp(p + start, self._id, self._id_len) != 0
            ):
                gen.bad_ids += 1
                return
            self._id_len = 0
            if kind == 4:
                gen.call_errors += 1
            gen.completed += 1
            if gen.recording:
                gen.calls += 1
                gen.record(now - self.t0)
            if self.waiter is not None:
                if not self.waiter.done():
                    self.waiter.set_result(PyBytes_FromStringAndSize(p, n))
            elif gen.running:
                self.send_call(<bytes>gen.rotation[self.seq % gen.rotation_n])
        elif kind == 2:
            gen.server_calls += 1
            if end - start + 4 + len(gen.accepted) > CAP:
                return
            out = BUF + ROOM
            memcpy(out, b'[3,"', 4)
            memcpy(out + 4, p + start, end - start)
            memcpy(out + 4 + (end - start), <char*>gen.accepted, len(gen.accepted))
            transport.send_reuse_external_buffer(
                WSMsgType.TEXT, out, 4 + (end - start) + len(gen.accepted)
            )
