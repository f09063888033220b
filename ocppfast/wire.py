"""OCPP-J frames (compiled ``_wire_c`` or pure ``_wire``; see ``ocppfast._speedups``)."""

from typing import TYPE_CHECKING

from ._speedups import load

if TYPE_CHECKING:
    from ._wire import *
    from ._wire import __all__

    COMPILED: bool
else:
    _impl, COMPILED = load("_wire")
    __all__ = _impl.__all__
    globals().update({name: getattr(_impl, name) for name in __all__})
