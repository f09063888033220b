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
cdef object _STR_HASH, _STR_EQ, _FunctionType, _OBJECT_GETATTRIBUTE, _MISSING
cdef tuple _INSTANCE_ATTRIBUTES
cdef picows.WSMsgType _WS_TEXT
cdef bint _COMPILED
cdef dict _answers_ok, _kwargs_ok
cdef bint _flat_values(dict payload) except -1
cdef unsigned int _type_tag(object cls)
cdef extern from *:
    """
    /* PEP 509's version tag of a dict: a new, never seen value after any change to it (3.11-3.13;
       deprecated since 3.12, so its warning is silenced; 0, i.e. unknown, where it is gone) */
    #if PY_VERSION_HEX < 0x030E0000 && !defined(Py_LIMITED_API)
    #if defined(__GNUC__)
    #pragma GCC diagnostic push
    #pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    #endif
    static CYTHON_INLINE unsigned long long ocppfast_dict_tag(PyObject *d) {
        return (unsigned long long)((PyDictObject *)d)->ma_version_tag;
    }
    #if defined(__GNUC__)
    #pragma GCC diagnostic pop
    #endif
    #else
    static CYTHON_INLINE unsigned long long ocppfast_dict_tag(PyObject *d) { (void)d; return 0; }
    #endif
    """
    unsigned long long _DICT_TAG "ocppfast_dict_tag"(object d)
cdef unsigned long long _dict_tag(object d)
@cython.locals(i=Py_ssize_t)
cdef bint _json_text(bytes data) except -1

cdef int ANY, STR, INT, FLOAT, BOOL, LITERAL, LIST, STRUCT
cdef object _INT_MIN, _INT_MAX, _EXACT, _FAIL
cdef dict _shapes


cdef class Shape:
    cdef public int kind
    cdef public Py_ssize_t min_length
    cdef public Py_ssize_t max_length
    cdef public object ge, gt, le, lt
    cdef public frozenset values
    cdef public Shape item
    cdef public dict fields
    cdef public Py_ssize_t required
    cdef public bint forbid


cdef class Field:
    cdef public str snake
    cdef public Shape shape
    cdef public bint required


cpdef object shape_of(object tp)
cdef object _bounds(Shape shape, object info)
@cython.locals(shape=Shape, item=Shape, fields=dict, required=Py_ssize_t)
cdef object _build(object info, dict structs)
cdef object _snake_value(object value)
cdef bint _in_bounds(Shape shape, object value) except -1
@cython.locals(kind=int, fields=dict, out=dict, seen=Py_ssize_t, n=Py_ssize_t, field=Field,
               item_shape=Shape)
cpdef object walk(Shape shape, object value, bint build)

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
    cdef readonly Shape walker
    cdef readonly Shape reply
    cdef readonly tuple args
    cdef readonly bint plain
    cdef public object key


cdef Plan _plan(object handler, object action, object version)
cdef object _route_key(object route_map, str action)
cdef bint _plain_attributes(object cls) except -1
cdef object _class_value(object cls, str name)
cdef object _dict_get(dict data, object key, object default)


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
    cdef object listener
    cdef bint plain_attrs
    cdef object cls_version
    cdef object attr(self, str name)
    cdef object version(self)

    cdef unsigned int logger_tag
    cdef unsigned long long off_dict_tag
    cdef unsigned long long off_cache_tag
    @cython.locals(tag="unsigned int")
    cdef bint info_off(self, object logger) except -1

    @cython.locals(tag="unsigned int", listener=FrameListener)
    cpdef on_frame(self, object transport, WSFrame frame)
    cpdef bint sink(self, object message) except -1
    @cython.locals(ws=WSTransport, listener=FrameListener)
    cpdef write(self, object text, object data=*)
    @cython.locals(flat=bint, known=bint, takes_id=bint, handlers=object, pairs=object, plan=Plan,
                   walker=Shape, reply_shape=Shape, checked=bint, flat_payload=bint,
                   shared=bint, last=tuple)
    cpdef route_now(self, object message)


cdef class FrameListener(picows.WSListener):
    cdef public Sink frame_sink
    cdef public object _sink
    cdef public object _closed
    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame)
