# Augmenting declarations for ocppfast/_engine.py when compiled by Cython (ocppfast._engine_c).
# WSFrame comes from picows' .pxd: frame fields and get_payload_as_bytes() become direct C
# access. This is why the compiled engine is tied to the exact picows release (see _speedups).
from picows.picows cimport WSFrame, WSTransport

cdef class Engine:
    cdef public object _loop
    cdef public str subprotocol
    cdef public str identity
    cdef public dict actions
    cdef public dict _handlers
    cdef public dict _after
    cdef dict _shared_handlers
    cdef dict _shared_after
    cdef dict _pending
    cdef object _queue
    cdef Py_ssize_t _outstanding
    cdef public Py_ssize_t max_outstanding
    cdef public double call_timeout
    cdef public bint validate_incoming
    cdef public bint validate_outgoing
    cdef public Py_ssize_t max_bad_messages
    cdef public bint require_boot
    cdef public bint accepted
    cdef Py_ssize_t _bad_messages
    cdef public object _transport
    cdef WSTransport _ws
    cdef bint _closed
    cdef object _sweeper
    cdef public unsigned long long rx_count
    cdef public Py_ssize_t max_unanswered_calls
    cdef bint _hold
    cdef Py_ssize_t _chunk_frames
    cdef public Py_ssize_t _unanswered
    cdef public object _flow
    cdef object __weakref__

    cpdef feed(self, object transport, WSFrame frame)
    cpdef receive(self, bytes data)
    cdef _receive(self, bytes data)
    cdef _feed_slow(self, WSFrame frame)
    cpdef deliver(self, bytes data)
    cdef _start_backlog(self)
    cdef _check_write_buffer(self)
    cdef _begin_closing(self)
    cdef _disconnect(self, bint graceful)
    cdef _too_many_calls(self)
    cdef _write(self, bytes data)
    cdef _bad_frame(self, object exc)
    cdef _on_call(self, str unique_id, str action_name, object payload, bint is_send)
    cpdef _reply(self, str unique_id, object action, object request, object result)
    cdef _coerce_response(self, object action, object result)
    cpdef _reply_error(self, str unique_id, object exc)
    cdef _run_after(self, str action_name, object request, object response)
    cdef _on_result(self, object frame)
    cdef _on_error(self, object frame, bint result_error)
    cpdef str next_id(self)
    cpdef start_call(self, str action_name, object payload, object timeout)
    cdef _prepare(self, object action, object payload)
    cdef _send_call(self, object fut, object action, str action_name, object payload, object timeout, double deadline)
    cdef _complete(self, str unique_id)
