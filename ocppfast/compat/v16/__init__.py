"""OCPP 1.6, shaped like mobilityhouse ``ocpp.v16``: ``ChargePoint``, ``call``, ``call_result``."""

from ..charge_point import ChargePoint as _BaseChargePoint
from . import call, call_result

__all__ = ["ChargePoint", "call", "call_result"]


class ChargePoint(_BaseChargePoint):
    """A mobilityhouse-compatible ChargePoint speaking OCPP 1.6."""

    _call = call
    _call_result = call_result
    _ocpp_version = "1.6"
