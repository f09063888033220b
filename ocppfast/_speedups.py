"""Choose the compiled (Cython) or the pure-Python modules of the hot path.

``OCPPFAST_NO_EXTENSIONS=1`` forces pure Python even when the compiled modules exist (the same
switch as aiohttp's ``AIOHTTP_NO_EXTENSIONS``). The compiled engine cimports picows' ``.pxd``,
whose layout changes between picows releases, so a compiled module is only loaded next to the
exact picows it was built against; any other picows is a clear ImportError, not a crash.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from types import ModuleType

# Keep equal to the pins in pyproject.toml (a test checks it).
PICOWS_PIN = "2.3.1"

USE_EXTENSIONS = os.environ.get("OCPPFAST_NO_EXTENSIONS", "") in ("", "0")


class PicowsMismatchError(ImportError):
    pass


def _check_picows() -> None:
    import picows

    picows_version = picows.__version__  # type: ignore[attr-defined]

    if picows_version != PICOWS_PIN:
        raise PicowsMismatchError(
            f"ocppfast's compiled engine was built against picows=={PICOWS_PIN}, but picows "
            f"{picows_version} is installed. Install picows=={PICOWS_PIN}, or set "
            "OCPPFAST_NO_EXTENSIONS=1 to use the pure-Python implementation."
        )


def load(name: str) -> tuple[ModuleType, bool]:
    """Import ``ocppfast.<name>_c`` (compiled) or ``ocppfast.<name>`` (pure). Returns (module, compiled)."""
    if USE_EXTENSIONS:
        try:
            spec = importlib.util.find_spec(f"ocppfast.{name}_c")
        except ImportError:
            spec = None
        if spec is not None:
            _check_picows()
            return importlib.import_module(f"ocppfast.{name}_c"), True
    return importlib.import_module(f"ocppfast.{name}"), False
