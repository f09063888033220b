# Included by the C listeners of the load harness (_gen_c.pyx, servers/_echo_c.pyx).


cdef inline bint not_text(WSTransport transport, WSFrame frame) except -1:
    """True for a frame that is not TEXT, after answering a CLOSE with a CLOSE (RFC 6455
    section 5.5.1) and disconnecting; the listener then ignores the frame."""
    if frame.msg_type == WSMsgType.TEXT:
        return False
    if frame.msg_type == WSMsgType.CLOSE:
        transport.send_close(frame.get_close_code(), frame.get_close_message())
        transport.disconnect()
    return True
