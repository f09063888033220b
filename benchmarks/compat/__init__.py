"""mobilityhouse-style code run on mobilityhouse ``ocpp`` 2.1.0 and on ``ocppfast.compat``.

``app.py`` is the user's code, written against ``ocpp`` as mobilityhouse users write it; the
benchmarks run that same file unchanged on the real package and, after
``ocppfast.compat.install()``, on ocppfast. See ``route.py`` (no network) and the load harness's
``mobilityhouse``, ``compat-websockets`` and ``compat-picows`` servers (loopback).
"""
