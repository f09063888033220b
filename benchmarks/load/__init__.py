"""Load harness: thousands of simulated OCPP 1.6 chargers against several central systems.

``python -m benchmarks.load`` runs four scenarios (connect + BootNotification, steady load, fan-out,
idle hold) against each server in ``servers/`` with the same load generator (``generator.py``:
lean picows clients in several processes) and writes ``load.json``, ``load.md`` and ``load.png``.

Process layout (one run)::

    harness (this package, core 1) --stdin/stdout JSON lines--> server process (core 0)
                                   --stdin/stdout JSON lines--> generator processes (core 1)
    generators --WebSocket ocpp1.6 over 127.0.0.x--> server

The server's CPU time and RSS are read from its pid by the harness (psutil), so they cover the
server alone.
"""
