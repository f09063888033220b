# Augmenting declarations for ocppfast/_compat_fast.py when compiled by Cython
# (ocppfast._compat_fast_c): the per-frame path of ocppfast.compat as C functions and cdef classes.
cimport cython
cimport picows.picows as picows
from picows.picows cimport WSTransport, WSFrame

cdef object _WORD, _HUMP
# the charge_point / messages module namespaces (read per frame: what user code may patch)
cdef dict _cp_names, _messages_names
cdef object _NOT_NOW, _ROUTED, _ROUTE_MESSAGE, _HANDLE_CALL, _SEND, _UNPACK
cdef object _VALIDATE_PAYLOAD, _VALIDATE_NOW, _CAMEL_TO_SNAKE, _Call, _OCPPError
cdef object _call_error_json, _wire_value, _is_awaitable, _camel_keys
cdef dict _wire_fields, _field_names, _inline_handlers, _flat_types
cdef object _decode_json, _dumps
cdef object _Logger, _LOGGER_INFO, _LOGGER_ENABLED, _convert, _encode, _ValidationError
cdef int _INFO, _TEXT
cdef bint _COMPILED
cdef dict _answers_ok, _requests_ok
cdef bint _flat_values(dict payload) except -1
cdef unsigned int _type_tag(object cls)
@cython.locals(i=Py_ssize_t)
cdef bint _json_text(bytes data) except -1

cpdef str snake_key(object key)
cdef object _snake_any(object data)
@cython.locals(known=dict, out=dict)
cpdef dict snake_dict(object data)
@cython.locals(out=list)
cpdef list snake_list(object data)


cdef class Plan:
    cdef readonly object handler
    cdef readonly object version
    cdef readonly object target
    cdef readonly object owner
    cdef readonly bint takes_id
    cdef readonly object request
    cdef readonly object answer


cdef Plan _plan(object handler, object action, object version)


cdef class Sink:
    cdef public object cp
    cdef public object connection
    cdef object cls
    cdef dict mine
    cdef object context
    cdef object run
    cdef bint direct_write
    cdef object route
    cdef public object write_py
    cdef object logger
    cdef dict log_dict
    cdef dict log_cache
    cdef dict plans
    cdef unsigned int cls_tag
    cdef object frames
    cdef WSTransport ws

    cdef unsigned int logger_tag
    @cython.locals(tag="unsigned int")
    cdef bint info_off(self, object logger) except -1

    @cython.locals(tag="unsigned int")
    cpdef on_frame(self, object transport, WSFrame frame)
    cpdef bint sink(self, object message) except -1
    cpdef write(self, object text, object data=*)
    @cython.locals(flat=bint, known=bint, takes_id=bint, handlers=object, pairs=object, plan=Plan)
    cpdef route_now(self, object message)


cdef class FrameListener(picows.WSListener):
    cdef public Sink frame_sink
    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame)
