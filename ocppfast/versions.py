"""OCPP versions as data: subprotocol name -> the registry of its generated messages."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .actions import Action

OCPP16 = "ocpp1.6"
OCPP201 = "ocpp2.0.1"
OCPP21 = "ocpp2.1"

#: Subprotocols ocppfast speaks, newest first (a server's default order of preference).
SUPPORTED = (OCPP21, OCPP201, OCPP16)

_PACKAGES = {OCPP16: "ocppfast.v16", OCPP201: "ocppfast.v201", OCPP21: "ocppfast.v21"}


def actions(subprotocol: str) -> dict[str, Action]:
    """The action registry of ``subprotocol`` (imported on first use)."""
    try:
        package = _PACKAGES[subprotocol]
    except KeyError:
        raise ValueError(
            f"unsupported OCPP subprotocol {subprotocol!r}; supported: {', '.join(SUPPORTED)}"
        ) from None
    registry: dict[str, Action] = importlib.import_module(package).ACTIONS
    return registry


def check(versions: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Validate a list of subprotocol names (keeping its order)."""
    out = tuple(versions)
    if not out:
        raise ValueError("at least one OCPP version is needed")
    for v in out:
        if v not in _PACKAGES:
            raise ValueError(
                f"unsupported OCPP subprotocol {v!r}; supported: {', '.join(SUPPORTED)}"
            )
    return out
