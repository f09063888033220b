# Augmenting declarations for ocppfast/_compat_fast.py when compiled by Cython
# (ocppfast._compat_fast_c): the per-frame path of ocppfast.compat as C functions and a cdef class.
cimport cython

cdef object _WORD, _HUMP
cdef object _cp_names, _messages_names, _NOT_NOW, _ROUTED, _ROUTE_MESSAGE, _HANDLE_CALL, _SEND, _UNPACK
cdef object _VALIDATE_PAYLOAD, _VALIDATE_NOW, _CAMEL_TO_SNAKE, _Call, _OCPPError
cdef object _call_error_json, _wire_value, _is_awaitable, _camel_keys, _wire_fields
cdef object _field_names, _inline_handlers, _flat_types, _decode_json, _dumps
cdef object _Logger, _convert, _encode, _ValidationError
cdef int _INFO, _TEXT
cdef dict _answers_ok, _requests_ok
cdef bint _flat_values(dict payload) except -1

cpdef str snake_key(object key)
cdef object _snake_any(object data)
@cython.locals(known=dict, out=dict)
cpdef dict snake_dict(object data)
@cython.locals(out=list)
cpdef list snake_list(object data)

cdef class Sink:
    cdef public object cp
    cdef public object connection
    cdef object cls
    cdef object mine
    cdef object run
    cdef bint direct_write
    cdef object route
    cdef public object write_py
    cdef object logger
    cdef dict log_dict
    cdef dict log_cache

    cdef bint info_off(self, object logger) except -1

    cpdef write(self, object text, object data=*)
    @cython.locals(flat=bint, known=bint, handlers=object, pairs=object)
    cpdef route_now(self, object message)
