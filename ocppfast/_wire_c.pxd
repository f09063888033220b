# Augmenting declarations for ocppfast/_wire.py when compiled by Cython (module ocppfast._wire_c).
cpdef object decode_frame(bytes data, str subprotocol)
cpdef bytes encode_call(str unique_id, str action, object payload)
cpdef bytes encode_call_result(str unique_id, object payload)
cpdef bytes encode_send(str unique_id, str action, object payload)
