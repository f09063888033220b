"""Run code written for mobilityhouse ``ocpp`` 2.1.0 on ocppfast.

Two ways, both a one-line change::

    # 1. change the imports: ``ocpp`` -> ``ocppfast.compat``
    from ocppfast.compat import call_result
    from ocppfast.compat.routing import on
    from ocppfast.compat.v16 import ChargePoint, call

    # 2. or leave the code alone and install the alias once, before anything imports ``ocpp``
    import ocppfast.compat
    ocppfast.compat.install()
    from ocpp.v16 import ChargePoint  # now ocppfast.compat.v16

The package mirrors ``ocpp`` module for module (``charge_point``, ``messages``, ``exceptions``,
``routing``, ``v16``/``v201``/``v21`` with ``call``, ``call_result``, ``datatypes``, ``enums``).
``docs/compat.md`` lists every difference from mobilityhouse.

:func:`serve` and :func:`connect` take ``websockets.serve``/``websockets.connect``'s place: the
same handlers and ChargePoint classes then run on ocppfast's picows server and client.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType

from .serve import ConnectionClosed, connect, serve

__all__ = ["ALIAS", "ConnectionClosed", "connect", "install", "installed", "serve", "uninstall"]

#: The package name that :func:`install` makes resolve to this one.
ALIAS = "ocpp"
_TARGET = __name__  # "ocppfast.compat"


class _AliasLoader(importlib.abc.Loader):
    """Hands out the already imported ``ocppfast.compat`` module for an ``ocpp`` name."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.real_spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.target)
        self.real_spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The import system stamped the alias spec on the shared module object; give it back its
        # own so that reloading, pickling and relative imports keep working under its real name.
        if self.real_spec is not None:
            module.__spec__ = self.real_spec


class _AliasFinder(importlib.abc.MetaPathFinder):
    """``ocpp`` and ``ocpp.<sub>...`` -> ``ocppfast.compat`` and ``ocppfast.compat.<sub>...``."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != ALIAS and not fullname.startswith(ALIAS + "."):
            return None
        real = _TARGET + fullname[len(ALIAS) :]
        spec = importlib.util.find_spec(real)
        if spec is None:
            return None  # no such compat module: the import fails as it would in ``ocpp``
        return importlib.machinery.ModuleSpec(
            fullname, _AliasLoader(real), is_package=spec.submodule_search_locations is not None
        )


_finder: _AliasFinder | None = None


def installed() -> bool:
    """Whether :func:`install` is in effect."""
    return _finder is not None


def install() -> None:
    """Make ``import ocpp`` (and every ``ocpp.*`` module) resolve to ``ocppfast.compat``.

    Call it once at start-up, before anything imports ``ocpp``; calling it again does nothing.
    Raises ``RuntimeError`` when the real mobilityhouse package is already imported: two
    ``ocpp`` packages in one process would split classes, enums and exceptions in two.
    """
    global _finder
    if _finder is not None:
        return
    loaded = sorted(name for name in sys.modules if name == ALIAS or name.startswith(ALIAS + "."))
    if loaded:
        raise RuntimeError(
            "ocppfast.compat.install() must run before anything imports 'ocpp', but "
            f"{', '.join(loaded[:3])}{', ...' if len(loaded) > 3 else ''} "
            "from the mobilityhouse package is already imported. Call it first thing at "
            "start-up (or change the imports from 'ocpp' to 'ocppfast.compat')."
        )
    _finder = _AliasFinder()
    sys.meta_path.insert(0, _finder)


def uninstall() -> None:
    """Undo :func:`install`: ``ocpp`` names are forgotten and the finder removed."""
    global _finder
    if _finder is None:
        return
    if _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    _finder = None
    for name in [n for n in sys.modules if n == ALIAS or n.startswith(ALIAS + ".")]:
        module = sys.modules[name]
        if getattr(module, "__name__", "").startswith(_TARGET):
            del sys.modules[name]
