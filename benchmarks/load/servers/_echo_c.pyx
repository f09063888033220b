# cython: language_level=3, boundscheck=False, wraparound=False
"""The C floor of the load harness: picows' own Cython listener API, no Python per frame.

Same answers as ``echo.py`` (a canned CALLRESULT per CALL, the id echoed, the payload chosen by
the action's first letter), but ``on_ws_frame`` is reached through picows' vtable and the reply
is assembled in a C buffer and sent with ``send_reuse_external_buffer``: what a server costs when
the only Python left is the event loop. Built on first use by ``echo_c.py``.
"""

from libc.string cimport memcpy
from picows.picows cimport WSFrame, WSListener, WSMsgType, WSTransport

include "../_not_text.pxi"

# picows writes a frame's header (2 to 14 bytes) just before the payload it is handed: the
# reply is assembled at BUF + ROOM so that the header lands inside BUF.
cdef enum:
    ROOM = 14
cdef char BUF[ROOM + 512]


cdef class CEchoConnection(WSListener):
    cdef public object server
    cdef public object transport
    cdef bytes boot
    cdef bytes heartbeat
    cdef bytes empty

    def __init__(self, server, bytes boot, bytes heartbeat, bytes empty):
        self.server = server
        self.transport = None
        self.boot = boot
        self.heartbeat = heartbeat
        self.empty = empty

    cpdef on_ws_connected(self, WSTransport transport):
        self.transport = transport
        self.server.connections.add(self)

    cpdef on_ws_disconnected(self, WSTransport transport):
        self.server.connections.discard(self)

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        cdef char* p = frame.payload_ptr
        cdef Py_ssize_t n = frame.payload_size
        cdef Py_ssize_t end = 4
        cdef Py_ssize_t size
        cdef bytes tail
        cdef char* out
        if not_text(transport, frame):
            return
        if n > 4 and p[1] == b'2':  # '[2,"<id>","<Action>",...': a CALL
            while end < n and p[end] != b'"':
                end += 1
            if end + 3 >= n or end - 4 > 64:
                return
            if p[end + 3] == b'B':
                tail = self.boot
            elif p[end + 3] == b'H':
                tail = self.heartbeat
            else:
                tail = self.empty
            # '[3,"' + id + '",{...}]'
            out = BUF + ROOM
            memcpy(out, b'[3,"', 4)
            memcpy(out + 4, p + 4, end - 4)
            size = 4 + end - 4
            memcpy(out + size, <char*>tail, len(tail))
            size += len(tail)
            transport.send_reuse_external_buffer(WSMsgType.TEXT, out, size)
        elif n > 1:  # an answer to our fan-out CALL
            self.server.answered(p[1] == b'3')
