"""ocppfast.compat.routing against mobilityhouse ``ocpp.routing`` 2.1.0, side by side."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, ClassVar

import pytest
from ocpp import routing as mh
from ocpp.v16.enums import Action as MhAction

from ocppfast.compat import routing as cr

BOTH = pytest.mark.parametrize("r", [mh, cr], ids=["mobilityhouse", "compat"])


def shape(route_map: dict[Any, dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    """A route map with handlers replaced by their names (bound methods differ per object)."""
    return {
        action: {
            key: (getattr(value, "__name__", value) if key != "_skip_schema_validation" else value)
            for key, value in route.items()
        }
        for action, route in route_map.items()
    }


def make_class(r: Any) -> type:
    class CP:
        calls: ClassVar[list[str]] = []

        @r.on(MhAction.heartbeat)
        def on_heartbeat(self, **kwargs: Any) -> str:
            """doc of on_heartbeat"""
            return "hb"

        @r.after(MhAction.heartbeat)
        def after_heartbeat(self, **kwargs: Any) -> str:
            return "after"

        @r.on(MhAction.meter_values, skip_schema_validation=True)
        async def on_meter_values(
            self, connector_id: int, call_unique_id: str, **kwargs: Any
        ) -> str:
            return f"mv {connector_id} {call_unique_id}"

        @r.on("CustomAction")
        def on_custom(self) -> None:
            return None

        @r.after("OnlyAfter")
        def after_only(self) -> None:
            return None

        def undecorated(self) -> None:
            return None

        @property
        def expensive(self) -> int:
            CP.calls.append("expensive")
            return 1

    return CP


def test_decorated_functions_match() -> None:
    ours, theirs = make_class(cr), make_class(mh)
    for name in ("on_heartbeat", "after_heartbeat", "on_meter_values", "on_custom", "after_only"):
        a, b = getattr(ours, name), getattr(theirs, name)
        assert {k: v for k, v in vars(a).items() if k != "__wrapped__"} == {
            k: v for k, v in vars(b).items() if k != "__wrapped__"
        }
        assert a.__name__ == b.__name__ and a.__qualname__.split(".")[-1] == name
        assert a.__doc__ == b.__doc__
        assert str(inspect.signature(a)) == str(inspect.signature(b))
        assert inspect.iscoroutinefunction(a) == inspect.iscoroutinefunction(b) is False
        assert inspect.iscoroutinefunction(a.__wrapped__) == inspect.iscoroutinefunction(
            b.__wrapped__
        )
        assert name in cr.routables and name in mh.routables
        assert "call_unique_id" in inspect.signature(ours.on_meter_values).parameters
    assert ours.on_heartbeat._on_action == MhAction.heartbeat
    assert ours.on_heartbeat._skip_schema_validation is False
    assert ours.on_meter_values._skip_schema_validation is True
    assert not hasattr(ours.after_heartbeat, "_on_action")
    assert not hasattr(ours.after_heartbeat, "_inject_response")


def test_wrapper_calls_through() -> None:
    cp = make_class(cr)()
    assert cp.on_heartbeat() == "hb"
    assert asyncio.run(cp.on_meter_values(connector_id=1, call_unique_id="u")) == "mv 1 u"


def test_routables_once_per_name_in_order() -> None:
    before = list(cr.routables)

    @cr.on("X")
    def some_unique_handler_name() -> None: ...

    @cr.after("X")
    def some_unique_handler_name() -> None: ...  # noqa: F811 - same name registered once

    assert cr.routables[len(before) :] == ["some_unique_handler_name"]
    assert cr.routables is cr.routables  # a module-global list others may inspect


@BOTH
def test_route_map_shape(r: Any) -> None:
    cls = make_class(r)
    cp = cls()
    route_map = r.create_route_map(cp)
    assert shape(route_map) == {
        MhAction.heartbeat: {
            "_skip_schema_validation": False,
            "_on_action": "on_heartbeat",
            "_after_action": "after_heartbeat",
        },
        MhAction.meter_values: {"_skip_schema_validation": True, "_on_action": "on_meter_values"},
        "CustomAction": {"_skip_schema_validation": False, "_on_action": "on_custom"},
        "OnlyAfter": {"_after_action": "after_only"},
    }
    assert route_map["Heartbeat"]["_on_action"] == cp.on_heartbeat  # StrEnum key, str lookup
    assert route_map["Heartbeat"]["_on_action"].__self__ is cp
    assert cls.calls == []  # the unrelated property was not evaluated


def test_route_maps_equal_across_packages() -> None:
    ours = cr.create_route_map(make_class(cr)())
    theirs = mh.create_route_map(make_class(mh)())
    assert shape(ours) == shape(theirs)
    # Key order follows the global ``routables`` list, i.e. which test module registered a
    # handler name first in this process: not behaviour, so compared as sets.
    assert {a: set(v) for a, v in ours.items()} == {a: set(v) for a, v in theirs.items()}


@BOTH
def test_instance_set_functions_are_routed(r: Any) -> None:
    cp = make_class(r)()

    @r.on(MhAction.boot_notification)
    def on_boot_notification(charge_point_model: str, **kwargs: Any) -> str:
        return charge_point_model

    @r.after(MhAction.boot_notification)
    def after_boot_notification(**kwargs: Any) -> None:
        return None

    cp.on_boot_notification = on_boot_notification
    cp.after_boot_notification = after_boot_notification
    route = r.create_route_map(cp)["BootNotification"]
    assert route["_on_action"] is on_boot_notification  # called without self
    assert route["_on_action"](charge_point_model="m") == "m"
    assert route["_after_action"] is after_boot_notification


@BOTH
def test_two_classes_sharing_names_get_distinct_maps(r: Any) -> None:
    class A:
        @r.on("Reset")
        def handler(self) -> str:
            return "A"

    class B:
        @r.on("Heartbeat")
        def handler(self) -> str:
            return "B"

    assert list(r.create_route_map(A())) == ["Reset"]
    assert list(r.create_route_map(B())) == ["Heartbeat"]
    assert r.create_route_map(A())["Reset"]["_on_action"]() == "A"


@BOTH
def test_subclass_override_without_decorator_drops_route(r: Any) -> None:
    base = make_class(r)

    class Sub(base):  # type: ignore[misc, valid-type]
        def on_heartbeat(self, **kwargs: Any) -> str:
            return "plain"

    assert MhAction.heartbeat in r.create_route_map(base())
    assert "_on_action" not in r.create_route_map(Sub())[MhAction.heartbeat]


@BOTH
def test_properties_with_a_routable_name_are_read_like_mobilityhouse(r: Any) -> None:
    reads: list[int] = []

    class Other:
        @r.on("Authorize")
        def shared_name_for_property(self) -> None: ...

    class WithProperty:
        @property
        def shared_name_for_property(self) -> Any:
            reads.append(1)
            raise AttributeError("not here")

    assert r.create_route_map(Other()) != {}
    assert r.create_route_map(WithProperty()) == {}
    assert len(reads) == 2  # once per option, as mobilityhouse


@BOTH
def test_stacked_decorators_merge_marks(r: Any) -> None:
    class CP:
        @r.on("Reset")
        @r.after("Reset")
        def both(self) -> str:
            return "x"

    route = r.create_route_map(CP())["Reset"]
    assert route["_on_action"].__name__ == route["_after_action"].__name__ == "both"
    assert list(route) == ["_skip_schema_validation", "_on_action", "_after_action"]


def test_after_inject_response_forward_compatible() -> None:
    @cr.after("Reset", inject_response=True)
    def after_reset(call_response: dict[str, Any], **kwargs: Any) -> None: ...

    assert after_reset._inject_response is True
    assert after_reset._after_action == "Reset"
