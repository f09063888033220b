"""``ocppfast.compat.install()``: ``import ocpp`` resolves to the compat modules.

Each case runs in a fresh interpreter: this test process has the real mobilityhouse ``ocpp``
imported (the differential tests need it), and install() refuses in that situation.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )


def test_every_ocpp_module_resolves_to_compat() -> None:
    proc = run(
        """
        import ocppfast.compat
        ocppfast.compat.install()
        ocppfast.compat.install()  # a second call does nothing
        import ocpp
        import ocpp.charge_point, ocpp.messages, ocpp.exceptions, ocpp.routing
        from ocpp.v16 import ChargePoint, call, call_result
        from ocpp.v16.enums import Action, RegistrationStatus
        from ocpp.v201 import ChargePoint as CP201
        from ocpp.v201.datatypes import ChargingStationType
        from ocpp.v21.enums import Action as Action21
        from ocpp.routing import on, after, create_route_map
        from ocpp.charge_point import asdict, remove_nones, camel_to_snake_case, LOGGER
        from ocpp.exceptions import NotImplementedError, FormatViolationError
        import ocppfast.compat.v16, ocppfast.compat.charge_point
        assert ocpp is ocppfast.compat
        assert ocpp.v16 is ocppfast.compat.v16
        assert ocpp.v16.call is ocppfast.compat.v16.call
        assert ocpp.charge_point is ocppfast.compat.charge_point
        assert ChargePoint is ocppfast.compat.v16.ChargePoint
        assert ChargePoint._ocpp_version == "1.6" and CP201._ocpp_version == "2.0.1"
        assert ocpp.v16.__spec__.name == "ocppfast.compat.v16", ocpp.v16.__spec__.name
        assert LOGGER.name == "ocpp"
        import pickle
        boot = call.BootNotification(charge_point_model="M", charge_point_vendor="V")
        assert pickle.loads(pickle.dumps(boot)) == boot
        import importlib
        importlib.reload(ocppfast.compat.v16.enums)
        try:
            import ocpp.no_such_module
        except ModuleNotFoundError as exc:
            assert "ocpp.no_such_module" in str(exc)
        else:
            raise AssertionError("imported a module that does not exist")
        import sys
        assert "jsonschema" not in sys.modules
        import ocpp.charge_point as mod
        assert mod.__file__.endswith("ocppfast/compat/charge_point.py")
        ocppfast.compat.uninstall()
        assert "ocpp" not in sys.modules and not ocppfast.compat.installed()
        print("ok")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_install_refuses_when_real_ocpp_is_imported() -> None:
    proc = run(
        """
        import ocpp.v16
        import ocppfast.compat
        try:
            ocppfast.compat.install()
        except RuntimeError as exc:
            print(exc)
        else:
            raise AssertionError("install() accepted a second ocpp package")
        assert not ocppfast.compat.installed()
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert "must run before anything imports 'ocpp'" in proc.stdout
    assert "but ocpp, ocpp.charge_point" in proc.stdout


def test_mobilityhouse_code_runs_unchanged_after_install() -> None:
    proc = run(
        """
        import ocppfast.compat
        ocppfast.compat.install()

        import asyncio, json
        from ocpp.routing import on
        from ocpp.v16 import ChargePoint as cp
        from ocpp.v16 import call_result
        from ocpp.v16.enums import Action, RegistrationStatus

        class ChargePoint(cp):
            @on(Action.boot_notification)
            def on_boot_notification(self, charge_point_vendor, charge_point_model, **kwargs):
                return call_result.BootNotification(
                    current_time="2026-01-01T00:00:00Z", interval=10,
                    status=RegistrationStatus.accepted)

        class Conn:
            sent = []
            async def send(self, text):
                self.sent.append(text)

        async def main():
            conn = Conn()
            await ChargePoint("CP_1", conn).route_message(json.dumps(
                [2, "1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]))
            print(conn.sent[0])

        asyncio.run(main())
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (
        '[3,"1",{"currentTime":"2026-01-01T00:00:00Z","interval":10,"status":"Accepted"}]'
    )
