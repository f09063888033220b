"""OCPP 2.0.1, shaped like mobilityhouse ``ocpp.v201``: ``ChargePoint``, ``call``, ``call_result``."""

from ..charge_point import ChargePoint as _BaseChargePoint
from . import call, call_result

__all__ = ["ChargePoint", "call", "call_result"]


class ChargePoint(_BaseChargePoint):
    """A mobilityhouse-compatible ChargePoint speaking OCPP 2.0.1."""

    _call = call
    _call_result = call_result
    _ocpp_version = "2.0.1"
