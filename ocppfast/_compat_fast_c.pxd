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
cdef bint _INSTANCE_TAGS
cdef object _STR_HASH, _STR_EQ, _FunctionType, _OBJECT_GETATTRIBUTE, _MISSING
cdef tuple _INSTANCE_ATTRIBUTES
cdef picows.WSMsgType _WS_TEXT
cdef bint _COMPILED
cdef dict _answers_ok, _kwargs_ok
cdef bint _flat_values(dict payload) except -1
cdef object _own(object payload, object hit)
cdef unsigned long long _cp_tag, _messages_tag
cdef bint _unpatched() except -1
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
cdef extern from *:
    """
    /* A compact CALL [2,"<id>","<action>",{...}] in a str of one byte per character whose id and
       action hold no backslash or control character (see Sink.split): the index of the payload's
       "{", and in ends[0..2] where the id ends and the action starts and ends; else -1. */
    static Py_ssize_t ocppfast_split_call(PyObject *s, Py_ssize_t *ends) {
        Py_ssize_t n, i, part;
        const Py_UCS1 *p;
        if (!PyUnicode_CheckExact(s) || PyUnicode_KIND(s) != PyUnicode_1BYTE_KIND) return -1;
        n = PyUnicode_GET_LENGTH(s);
        p = PyUnicode_1BYTE_DATA(s);
        if (n < 12 || p[0] != '[' || p[1] != '2' || p[2] != ',') return -1;
        i = 3;
        for (part = 0; part < 2; part++) {
            if (p[i] != '"') return -1;
            if (part == 1) ends[1] = i + 1;
            for (i++; ; i++) {
                if (i >= n) return -1;
                if (p[i] == '"') break;
                if (p[i] == 92 || p[i] < 32) return -1;  /* a backslash, a control character */
            }
            ends[part == 0 ? 0 : 2] = i;
            i++;
            if (i >= n || p[i] != ',') return -1;
            i++;
        }
        if (i >= n - 1 || p[i] != '{' || p[n - 1] != ']') return -1;
        return i;
    }
    /* Whether s[start:end] is the text of t (a str of one byte per character). */
    static int ocppfast_same_text(PyObject *s, Py_ssize_t start, Py_ssize_t end, PyObject *t) {
        return PyUnicode_KIND(t) == PyUnicode_1BYTE_KIND && PyUnicode_GET_LENGTH(t) == end - start
            && memcmp(PyUnicode_1BYTE_DATA(s) + start, PyUnicode_1BYTE_DATA(t), end - start) == 0;
    }
    """
    Py_ssize_t _SPLIT_CALL "ocppfast_split_call"(object s, Py_ssize_t *ends)
    bint _SAME_TEXT "ocppfast_same_text"(object s, Py_ssize_t start, Py_ssize_t end, str t)
    str _SUBSTRING "PyUnicode_Substring"(object s, Py_ssize_t start, Py_ssize_t end)
cdef extern from *:
    """
    /* Whether every byte of b is below 127 (ASCII without DEL): a word at a time; a byte
       >= 127 is one with its high bit set, or 127 itself (its low seven bits all set). */
    static int ocppfast_plain_ascii(PyObject *b) {
        const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(b);
        Py_ssize_t n = PyBytes_GET_SIZE(b), i = 0;
        const uint64_t high = 0x8080808080808080ULL, ones = 0x0101010101010101ULL;
        for (; i + 8 <= n; i += 8) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            /* w + 1 per byte carries into the high bit exactly for 0x7f (no byte is >= 0x80
               once the first test passed, so no carry crosses bytes) */
            if ((w & high) || (((w & ~high) + ones) & high)) return 0;
        }
        for (; i < n; i++) if (p[i] >= 127) return 0;
        return 1;
    }
    """
    bint _PLAIN_ASCII "ocppfast_plain_ascii"(bytes b)
cdef extern from *:
    """
    /* f(stack[0], **dict(zip(names, stack[1:]))) by vectorcall: the tuple's items are the
       argument array (one positional argument, then the keyword values). */
    static PyObject *ocppfast_call_stack(PyObject *f, PyObject *stack, PyObject *names) {
        return PyObject_Vectorcall(f, &PyTuple_GET_ITEM(stack, 0), 1, names);
    }
    """
    object _CALL_STACK "ocppfast_call_stack"(object f, tuple stack, tuple names)
cdef extern from *:
    """
    /* Whether the str s equals one of the ASCII strs in by_length[len(s)] (a tuple of tuples
       of strs, grouped by length): compared in place, no hash. A str of a wider kind holds a
       character above 255, so it equals none of them. */
    static int ocppfast_in_texts(PyObject *s, PyObject *by_length) {
        Py_ssize_t n = PyUnicode_GET_LENGTH(s), i, m;
        PyObject *group;
        if (PyUnicode_KIND(s) != PyUnicode_1BYTE_KIND || n >= PyTuple_GET_SIZE(by_length)) return 0;
        group = PyTuple_GET_ITEM(by_length, n);
        m = PyTuple_GET_SIZE(group);
        for (i = 0; i < m; i++) {
            if (memcmp(PyUnicode_1BYTE_DATA(s), PyUnicode_1BYTE_DATA(PyTuple_GET_ITEM(group, i)), n) == 0)
                return 1;
        }
        return 0;
    }
    """
    bint _IN_TEXTS "ocppfast_in_texts"(str s, tuple by_length)
cpdef bint _json_text(bytes data) except -1

cdef int ANY, STR, INT, FLOAT, BOOL, LITERAL, LIST, STRUCT
cdef object _INT_MIN, _INT_MAX, _EXACT, _FAIL
cdef dict _shapes


cdef class Shape:
    cdef public int kind
    cdef public Py_ssize_t min_length
    cdef public Py_ssize_t max_length
    cdef public object ge, gt, le, lt
    cdef public frozenset values
    cdef public tuple by_length
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
cpdef bint _literal(Shape shape, str text) except -1
@cython.locals(kind=int, fields=dict, out=dict, seen=Py_ssize_t, n=Py_ssize_t, field=Field,
               item_shape=Shape, sub=Shape, sub_kind=int)
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
    cdef readonly str text
    cdef readonly dict text_payload
    cdef readonly object text_kwargs
    cdef readonly tuple text_names, text_stack
    cdef readonly dict entry
    cdef unsigned long long route_tag, entry_tag
    cdef readonly object skip
    cdef readonly bint after


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
    cdef readonly dict plans
    cdef unsigned int cls_tag
    cdef object frames
    cdef WSTransport ws
    cdef object listener
    cdef bint plain_attrs
    cdef object cls_version
    cdef Py_ssize_t ends[3]
    cdef str last_action
    cdef unsigned long long mine_tag
    cdef object my_logger, my_route_map, my_version
    cdef bint fresh(self) except -1
    cdef remember(self)
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
                   shared=bint, last=tuple, start=Py_ssize_t, text=str, prev=str,
                   clean=bint, fresh=bint, known_entry=bint, after=bint,
                   tag="unsigned long long")
    cpdef route_now(self, object message)


cdef class FrameListener(picows.WSListener):
    cdef public Sink frame_sink
    cdef public object _sink
    cdef public object _closed
    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame)
