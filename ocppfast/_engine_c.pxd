# Augmenting declarations for ocppfast/_engine.py when compiled by Cython (ocppfast._engine_c).
# WSFrame comes from picows' .pxd: frame fields and get_payload_as_bytes() become direct C
# access. This is why the compiled engine is tied to the exact picows release (see _speedups).
cimport cython
cimport picows.picows as picows
from picows.picows cimport WSFrame, WSTransport

# Module aliases as C globals: the per-frame path reads them without a dict lookup.
cdef object log
cdef object _CALL, _CALLRESULT, _CALLERROR, _CALLRESULTERROR, _SEND
cdef object _Call, _CallResult, _CallError, _CallResultError, _Send
cdef object _decode_envelope, _classify, _version_error
cdef str _OCPP21
cdef object _encode_call, _encode_send, _encode_call_error, _encode_error
cdef object _encode_call_result_error
cdef object _generic_decode, _convert, _to_builtins, _encode, _Raw, _monotonic
cdef dict _last_valid
cdef dict _last_answer
cdef object _last_stamp
cdef list _SMALL_HEADERS
cdef dict _sweepers
cdef Py_ssize_t _PLAN_SCAN
cdef bint _COMPILED
cdef picows.WSMsgType _WS_TEXT
cdef inline bytes _cut(const unsigned char* data, Py_ssize_t start, Py_ssize_t end)
@cython.locals(n=Py_ssize_t, i=Py_ssize_t, masked=bytes, out=cython.p_uchar, src=cython.p_uchar, mask=cython.p_uchar)
cdef bytes _client_frame(bytes data, bytes key)
@cython.locals(n_id=Py_ssize_t, n_payload=Py_ssize_t)
cdef inline void _put_result(char* out, bytes id_json, bytes payload)
@cython.locals(frame=bytes)
cdef bytes _result_frame(bytes id_json, bytes payload)
@cython.locals(n=Py_ssize_t, out=cython.p_char)
cdef bint _send_result(WSTransport ws, bytes id_json, bytes payload) except -1
cdef Py_ssize_t _HEADER_ROOM, _STACK_FRAME
cdef extern from *:
    """
    /* The offset of the slot behind a member descriptor of type T_OBJECT_EX (a msgspec
       Struct's field), or -1 for anything else. */
    #ifndef Py_T_OBJECT_EX
    #include "structmember.h"
    #define Py_T_OBJECT_EX T_OBJECT_EX
    #endif
    static Py_ssize_t ocppfast_slot_offset(PyObject *descr) {
        PyMemberDef *m;
        if (Py_TYPE(descr) != &PyMemberDescr_Type) return -1;
        m = ((PyMemberDescrObject *)descr)->d_member;
        if (m->type != Py_T_OBJECT_EX || m->offset < (Py_ssize_t)sizeof(PyObject)) return -1;
        return m->offset;
    }
    /* Whether each slot of o at the offsets (a tuple of ints, from ocppfast_slot_offset for
       o's exact type) holds the very object at the same index of values (a list as long). */
    static int ocppfast_same_slots(PyObject *o, PyObject *offsets, PyObject *values) {
        Py_ssize_t k, n = PyTuple_GET_SIZE(offsets);
        for (k = 0; k < n; k++) {
            Py_ssize_t at = PyLong_AsSsize_t(PyTuple_GET_ITEM(offsets, k));
            if (*(PyObject **)((char *)o + at) != PyList_GET_ITEM(values, k)) return 0;
        }
        return 1;
    }
    /* Those slots' objects into values (a list as long); 0 if one is unset (then values
       holds no meaning). */
    static int ocppfast_keep_slots(PyObject *o, PyObject *offsets, PyObject *values) {
        Py_ssize_t k, n = PyTuple_GET_SIZE(offsets);
        for (k = 0; k < n; k++) {
            Py_ssize_t at = PyLong_AsSsize_t(PyTuple_GET_ITEM(offsets, k));
            PyObject *v = *(PyObject **)((char *)o + at);
            if (v == NULL) return 0;
            Py_INCREF(v);
            PyList_SetItem(values, k, v);  /* steals v, drops the old item */
        }
        return 1;
    }
    """
    Py_ssize_t _SLOT_OFFSET "ocppfast_slot_offset"(object descr)
    bint _SAME_SLOTS "ocppfast_same_slots"(object o, tuple offsets, list values)
    bint _KEEP_SLOTS "ocppfast_keep_slots"(object o, tuple offsets, list values)
cdef str _id_of(bytes id_json)
@cython.locals(n=Py_ssize_t, done=Py_ssize_t, at=Py_ssize_t, c=cython.p_char, p=cython.p_char, o=cython.p_char, hit=cython.p_char)
cdef bint _restamped(bytes checked, bytes old, bytes payload, bytes new) except -1
cdef list _last_tail
cdef bytes _call_tail(str action_name, object payload)
@cython.locals(n=Py_ssize_t)
cdef inline bint _same(const unsigned char* data, Py_ssize_t start, Py_ssize_t end, bytes key) except -1
cdef class CallGroup
cdef unsigned long long _epoch
cdef _resolve(tuple entry, object at, object value, bint failed)
cdef _group_settle(CallGroup group, object index, object value)
cdef _hook_task(Engine engine, object coro, object hook)
cdef _async_call_done(Engine engine)


cdef class Sweeper:
    cdef public object loop
    cdef public double interval
    cdef public set engines
    cdef object _handle
    cpdef add(self, object engine)


cdef class _Plan:
    cdef readonly str name
    cdef readonly bytes key
    cdef readonly bint alnum
    cdef readonly object action
    cdef readonly object handler
    cdef readonly bint shared
    cdef readonly object decode
    cdef readonly object empty
    cdef readonly object response
    cdef readonly bytes constant
    cdef readonly list checked
    cdef readonly unsigned long long epoch
    cdef readonly dict table
    cdef readonly list peers
    cdef readonly _Plan follow


cdef class _Flow:
    cdef public object backlog
    cdef public object close_timeout
    cdef public object closed_event
    cdef public bint closing
    cdef public bint coalesce
    cdef public object connected_event
    cdef public bint fragmenting
    cdef public object hook_tasks
    cdef public unsigned long long id_counter
    cdef public object id_factory
    cdef public str id_prefix
    cdef public object max_bad_messages
    cdef public Py_ssize_t max_frames
    cdef public object max_write_buffer
    cdef public bint observer_failed
    cdef public object other_frame
    cdef public object peer_certificate
    cdef public object queue
    cdef public object require_boot
    cdef public dict shared_handlers
    cdef public bint small_reads
    cdef public Sweeper sweeper
    cdef public object tasks
    cdef public object timers
    cdef public object versions
    cdef public bint write_paused
    cdef public object write_timeout


cdef class Engine:
    # Declared in the order of the C struct. What every frame reads or writes comes first, so
    # a frame touches 2-3 of the object's cache lines, not all of them: with thousands of
    # connections their state falls out of the caches, and each line is a miss (see
    # docs/performance.md, "Per-connection state"). public: users set it; readonly: Python
    # code reads it (the engine module's docstring lists both); neither: only this module.
    # -- per frame
    cdef readonly unsigned long long rx_count
    cdef list _out
    cdef WSTransport _ws
    cdef _Plan _plan
    cdef public object observer
    cdef dict _after
    cdef dict _shared_after
    cdef Py_ssize_t _chunk_frames
    cdef Py_ssize_t _unanswered
    cdef Py_ssize_t _async_calls
    cdef readonly Py_ssize_t max_unanswered_calls
    cdef Py_ssize_t _bad_messages
    cdef bint _hold
    cdef bint _closed
    cdef public bint fast_path
    cdef public bint validate_incoming
    cdef public bint validate_outgoing
    cdef public bint accepted
    # -- per CALL the engine sends, per connection, or off the per-frame path
    cdef _Flow _flow
    cdef dict _pending
    cdef Py_ssize_t _outstanding
    cdef public Py_ssize_t max_outstanding
    cdef public double call_timeout
    cdef readonly object loop
    cdef readonly object transport
    cdef readonly str subprotocol
    cdef readonly str identity
    cdef readonly dict actions
    cdef dict _handlers
    cdef object __weakref__

    cpdef feed(self, object transport, WSFrame frame)
    @cython.locals(last=bint)
    cdef _feed(self, object transport, WSFrame frame)
    cpdef receive(self, bytes data)
    cdef _receive(self, bytes data, bint scanned=*)
    cdef _receive_frame(self, WSFrame frame)
    cdef _feed_slow(self, WSFrame frame)
    cpdef deliver(self, bytes data)
    cdef _start_backlog(self)
    cdef _drain_turn(self, object backlog)
    cdef _check_write_buffer(self)
    cdef _begin_closing(self)
    cdef _disconnect(self, bint graceful)
    cdef _too_many_calls(self)
    cdef _write(self, bytes data)
    cdef _flush(self)
    cdef _bad_frame(self, object exc)
    @cython.locals(plan=_Plan)
    cdef _on_call(self, str unique_id, str action_name, object payload, bint is_send)
    cpdef _reply(self, str unique_id, _Plan plan, object request, object result, bytes id_json)
    @cython.locals(last=bytes, payload=bytes, checked=list)
    cdef _answer(self, str unique_id, _Plan plan, object request, object result, bytes id_json)
    @cython.locals(checked=list, last=bytes)
    cdef bint _check_answer(self, str unique_id, _Plan plan, bytes payload, bytes id_json) except -1
    cdef _invoke(self, str unique_id, _Plan plan, object request, bint is_send, bytes id_json)
    @cython.locals(last=_Plan, plan=_Plan, old=_Plan, table=dict, peers=list)
    cdef _Plan _make_plan(self, str action_name)

    cdef bint _fast_call(self, bytes data) except -1
    @cython.locals(i=Py_ssize_t, limit=Py_ssize_t, id_end=Py_ssize_t, start=Py_ssize_t, c=Py_ssize_t, k=Py_ssize_t, plan=_Plan, quote=cython.p_uchar)
    cdef bint _fast_scan(self, const unsigned char* buf, Py_ssize_t n) except -1
    @cython.locals(last=_Plan, plan=_Plan, peers=list, k=Py_ssize_t)
    cdef _Plan _plan_of(self, const unsigned char* data, Py_ssize_t start, Py_ssize_t end)
    cdef _coerce_response(self, object action, object result)
    cpdef _reply_error(self, str unique_id, object exc, str action_name)
    cdef _observe(self, str event, tuple args)
    cdef _call_out(self, str action_name, double started, str outcome)
    cdef _observe_frame(self, bytes data, bint out)
    cdef _observe_call_in(self, str action_name, str outcome)
    cdef _observer_failed(self, str event)
    cdef _run_after(self, str action_name, object request, object response)
    cdef _on_result(self, object frame)
    cdef _on_error(self, object frame, bint result_error)
    cpdef str next_id(self)
    cpdef start_call(self, str action_name, object payload, object timeout)
    cpdef call_into(self, object fut, str action_name, object payload, object timeout)
    cpdef call_group(self, CallGroup group, object index, str action_name, object payload, object timeout)
    cdef _call(self, object fut, object index, str action_name, object payload, object timeout)
    cdef _prepare(self, object action, object payload)
    cdef _send_call(self, object fut, object action, str action_name, object payload, object timeout, double deadline, double started, object index)
    cdef _complete(self, str unique_id)


cdef class FrameListener(picows.WSListener):
    cdef public Engine charge_point
    cpdef bind(self, Engine charge_point)
    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame)


cdef class CallGroup:
    cdef public list results
    cdef public Py_ssize_t remaining
    cdef public object future
    cpdef CallSlot slot(self, object index)
    cpdef bint done(self)
    cdef _settle(self, object index, object value)


cdef class CallSlot:
    cdef CallGroup group
    cdef object index
    cdef public bint finished
    cpdef bint done(self)
    cpdef set_result(self, object value)
    cpdef set_exception(self, object exc)
