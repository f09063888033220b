"""A mobilityhouse-style OCPP 1.6 central-system ChargePoint, as its users write it.

Imports only ``ocpp``: run as is it uses mobilityhouse ``ocpp`` 2.1.0; after
``ocppfast.compat.install()`` the very same source runs on ocppfast. Handlers answer with the
current time per call, as real handlers do.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action, RegistrationStatus


def now() -> str:
    # The same work per call as the native server's handlers (benchmarks/load/servers/
    # ocppfast_cs.py ``_now``), so that the load harness compares dispatch, not handler bodies.
    return datetime.now(UTC).isoformat()


class BenchChargePoint(ChargePoint):  # type: ignore[misc]
    @on(Action.boot_notification)
    def on_boot_notification(
        self, charge_point_vendor: str, charge_point_model: str, **kwargs: Any
    ) -> Any:
        return call_result.BootNotification(
            current_time=now(), interval=300, status=RegistrationStatus.accepted
        )

    @on(Action.heartbeat)
    def on_heartbeat(self) -> Any:
        return call_result.Heartbeat(current_time=now())

    @on(Action.status_notification)
    def on_status_notification(
        self, connector_id: int, error_code: str, status: str, **kw: Any
    ) -> Any:
        return call_result.StatusNotification()

    @on(Action.meter_values)
    def on_meter_values(
        self, connector_id: int, meter_value: list[dict[str, Any]], **kw: Any
    ) -> Any:
        return call_result.MeterValues()


# The frames a station sends (valid OCPP 1.6). MeterValues carries 10 sampled values.
_SAMPLES = ",".join(
    f'{{"value":"{i}.5","context":"Sample.Periodic","measurand":"{m}","unit":"{u}"}}'
    for i, (m, u) in enumerate(
        [
            ("Energy.Active.Import.Register", "Wh"),
            ("Power.Active.Import", "W"),
            ("Current.Import", "A"),
            ("Voltage", "V"),
            ("Temperature", "Celsius"),
            ("SoC", "Percent"),
            ("Frequency", "Hertz"),
            ("Current.Offered", "A"),
            ("Power.Offered", "W"),
            ("Energy.Reactive.Import.Register", "varh"),
        ]
    )
)
FRAMES: dict[str, str] = {
    "BootNotification": '[2,"%s","BootNotification",'
    '{"chargePointVendor":"VendorX","chargePointModel":"SingleSocketCharger"}]',
    "Heartbeat": '[2,"%s","Heartbeat",{}]',
    "StatusNotification": '[2,"%s","StatusNotification",'
    '{"connectorId":1,"errorCode":"NoError","status":"Available"}]',
    "MeterValues": '[2,"%s","MeterValues",{"connectorId":1,"transactionId":42,"meterValue":'
    '[{"timestamp":"2026-01-01T00:00:00Z","sampledValue":[' + _SAMPLES + "]}]}]",
}
