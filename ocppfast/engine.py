"""One connection's RPC state (compiled ``_engine_c`` or pure ``_engine``; see ``_speedups``)."""

from typing import TYPE_CHECKING

from ._speedups import load

if TYPE_CHECKING:
    from ._engine import *
    from ._engine import __all__

    COMPILED: bool
else:
    _impl, COMPILED = load("_engine")
    __all__ = _impl.__all__
    globals().update({name: getattr(_impl, name) for name in __all__})
