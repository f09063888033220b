"""``@on`` / ``@after`` handler routing as mobilityhouse ``ocpp`` 2.1.0 does it (``ocpp.routing``).

The decorators wrap the function (``functools.wraps``: ``__wrapped__``, name and signature are
the original's) and mark the wrapper with ``_on_action`` / ``_skip_schema_validation`` or
``_after_action``; the function's name goes into the module-global :data:`routables`.
:func:`create_route_map` then reads exactly those names from an object, so an unrelated property
is never evaluated, functions set on the instance count, and two classes sharing a handler name
get their own maps.

``after(action, inject_response=True)`` (added upstream after 2.1.0) also marks the wrapper with
``_inject_response``; the ChargePoint then passes ``call_response=`` to the hook.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["after", "create_route_map", "on", "routables"]

F = TypeVar("F", bound=Callable[..., Any])

#: Names of every function decorated with ``@on`` or ``@after`` so far, in order, each once.
routables: list[str] = []

_OPTIONS = ("_on_action", "_after_action")


def _wrap(func: Callable[..., Any], marks: dict[str, Any]) -> Any:
    @functools.wraps(func)
    def inner(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    for name, value in marks.items():
        setattr(inner, name, value)
    if func.__name__ not in routables:
        routables.append(func.__name__)
    return inner


def on(action: Any, *, skip_schema_validation: bool = False) -> Callable[[F], F]:
    """Mark a method (sync or async) as the handler of CALLs of ``action``.

    The handler gets the payload as snake_case keyword arguments (accept ``**kwargs`` to stay
    compatible with fields added later) and returns the ``call_result`` dataclass to answer
    with. ``action`` is an ``Action`` member or any string (a custom action has no schema, so it
    needs ``skip_schema_validation=True``, which skips validating both the request and the
    reply of this route).
    """

    def decorator(func: F) -> F:
        wrapped: F = _wrap(
            func, {"_on_action": action, "_skip_schema_validation": skip_schema_validation}
        )
        return wrapped

    return decorator


def after(action: Any, inject_response: bool = False) -> Callable[[F], F]:
    """Mark a method as a hook run after the reply to a CALL of ``action`` was sent.

    It gets the same keyword arguments as the ``@on`` handler; with ``inject_response=True``
    also ``call_response``, the reply's payload.
    """

    def decorator(func: F) -> F:
        marks: dict[str, Any] = {"_after_action": action}
        if inject_response:
            marks["_inject_response"] = True
        wrapped: F = _wrap(func, marks)
        return wrapped

    return decorator


def create_route_map(obj: Any) -> dict[Any, dict[str, Any]]:
    """``{action: {"_on_action": handler, "_skip_schema_validation": bool,
    "_after_action": hook}}`` for the decorated handlers ``obj`` has.

    Only names in :data:`routables` are looked up on ``obj`` (as attributes, so bound methods and
    functions set on the instance both count); an attribute that is missing or not marked is
    skipped. Keys are the actions as given to the decorators.
    """
    routes: dict[Any, dict[str, Any]] = {}
    for name in routables:
        for option in _OPTIONS:
            # Looked up once per option, as mobilityhouse does: a property with a handler's
            # name is read twice, any other attribute never.
            try:
                attr = getattr(obj, name)
                action = getattr(attr, option)
            except AttributeError:
                continue
            route = routes.setdefault(action, {})
            if option == "_on_action":
                route["_skip_schema_validation"] = getattr(attr, "_skip_schema_validation", False)
            route[option] = attr
    return routes
