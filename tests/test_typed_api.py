"""The typed API (issue 13) as mypy --strict sees it, and that it costs nothing at run time.

A program of reveal_type() lines and lines that must fail (``# E: <code>``) is checked by mypy:
``call(request)`` returns the request's response type for every action of every version, on
``ChargePoint.call`` and ``CentralSystem.call``; ``on``/``after``/``on_connect`` keep the
decorated function's type and refuse handlers of the wrong shape; options are checked by name
and type. The run-time half: the generated request classes are ordinary msgspec Structs
(``ocppfast.message.Request`` adds no field) and the program's calls run on loopback.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import msgspec
import pytest

import ocppfast
from ocppfast import v16, v21, v201, versions
from ocppfast.message import Request

ROOT = Path(__file__).resolve().parent.parent


def mypy(path: Path) -> str:
    pytest.importorskip("mypy", reason="mypy is a dev tool (the wheel checks' venvs lack it)")
    cache = Path(tempfile.gettempdir()) / "ocppfast-mypy-typed-api"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            "--show-error-codes",
            "--cache-dir",
            str(cache),
            str(path),
        ],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=600,
    )
    assert not result.stderr.strip(), result.stderr
    return result.stdout


CASES = """
from typing import Any

import ocppfast
from ocppfast import v16, v21, v201


async def station(
    cp: ocppfast.ChargePoint,
    cs: ocppfast.CentralSystem,
    send_only: v21.NotifyPeriodicEventStreamRequest,
) -> None:
    boot = v201.BootNotificationRequest(
        charging_station=v201.ChargingStationType(vendor_name="V", model="M"),
        reason=v201.BootReasonEnumType.power_up,
    )
    reveal_type(await cp.call(boot))  # R: ocppfast.v201.messages.BootNotificationResponse
    reveal_type(await cp.call("BootNotification", boot))  # R: ocppfast.v201.messages.BootNotificationResponse
    reveal_type(await cs.call("CP-1", v16.ResetRequest(type=v16.ResetType.soft)))  # R: ocppfast.v16.messages.ResetResponse
    reveal_type(await cs.call("CP-1", "Reset", v21.ResetRequest(type=v21.ResetEnumType.immediate)))  # R: ocppfast.v21.messages.ResetResponse
    either: v16.HeartbeatRequest | v201.HeartbeatRequest = v16.HeartbeatRequest()
    reveal_type(await cp.call(either))  # R: ocppfast.v16.messages.HeartbeatResponse | ocppfast.v201.messages.HeartbeatResponse
    reveal_type(await cp.call("DataTransfer", {"vendorId": "V"}))  # R: Any
    reveal_type(await cp.call("VendorX", {"a": 1}, timeout=2))  # R: Any
    await cp.call(boot, timeot=3)  # E: call-overload
    await cp.call(send_only)  # E: call-overload
    await cs.call(boot)  # E: call-overload
    status: v16.RegistrationStatus = (await cp.call(boot)).status  # E: assignment


cs = ocppfast.CentralSystem(versions=["ocpp2.0.1"], call_timeout=5, require_boot=True)


@cs.on("BootNotification")
def boot(cp: ocppfast.ChargePoint, req: v201.BootNotificationRequest) -> v201.BootNotificationResponse:
    return v201.BootNotificationResponse(
        current_time=ocppfast.now(), interval=300, status=v201.RegistrationStatusEnumType.accepted
    )


reveal_type(boot)  # R: def (cp: ocppfast.charge_point.ChargePoint, req: ocppfast.v201.messages.BootNotificationRequest) -> ocppfast.v201.messages.BootNotificationResponse


@cs.on("Heartbeat")
async def beat(cp: ocppfast.ChargePoint, req: v201.HeartbeatRequest) -> dict[str, Any]:
    return {"currentTime": ocppfast.now()}


reveal_type(beat)  # R: def (cp: ocppfast.charge_point.ChargePoint, req: ocppfast.v201.messages.HeartbeatRequest) -> typing.Coroutine[Any, Any, dict[str, Any]]


@cs.after("BootNotification")
def booted(cp: ocppfast.ChargePoint, req: Any, res: Any) -> None: ...


reveal_type(booted)  # R: def (cp: ocppfast.charge_point.ChargePoint, req: Any, res: Any)


@cs.on_connect
async def hello(cp: ocppfast.ChargePoint) -> None: ...


reveal_type(hello)  # R: def (cp: ocppfast.charge_point.ChargePoint) -> typing.Coroutine[Any, Any, None]
cs.on_disconnect = lambda cp: None


@cs.on("StatusNotification")  # E: type-var
def station_shaped(req: v201.StatusNotificationRequest) -> None: ...


@cs.after("Heartbeat")  # E: type-var
def two_args(cp: ocppfast.ChargePoint, req: Any) -> None: ...


ocppfast.CentralSystem(call_timout=5)  # E: call-arg
ocppfast.CentralSystem(call_timeout="5")  # E: arg-type
ocppfast.CentralSystem(duplicate_identity="ignore")  # E: arg-type


async def client() -> None:
    cp = await ocppfast.connect("ws://127.0.0.1:9/", "CP-1", reconnect=True, reconnect_deadline=3)

    @cp.on("Reset")
    def reset(req: v16.ResetRequest) -> v16.ResetResponse:
        return v16.ResetResponse(status=v16.ResetStatus.accepted)

    reveal_type(reset)  # R: def (req: ocppfast.v16.messages.ResetRequest) -> ocppfast.v16.messages.ResetResponse
    cp.on("Reset", lambda cp, req: None)  # E: type-var
    await ocppfast.connect("ws://127.0.0.1:9/", "CP-1", require_boot=True)  # E: call-arg
    await ocppfast.connect("ws://127.0.0.1:9/", "CP-1", local_adr=("127.0.0.1", 0))  # E: call-arg
"""


def expectations(source: str) -> tuple[dict[int, str], set[tuple[int, str]]]:
    reveals: dict[int, str] = {}
    errors: set[tuple[int, str]] = set()
    for n, line in enumerate(source.splitlines(), 1):
        if m := re.search(r"# R: (.+)$", line):
            reveals[n] = m.group(1).strip()
        if m := re.search(r"# E: ([\w-]+)$", line):
            errors.add((n, m.group(1)))
    return reveals, errors


def test_mypy_cases(tmp_path: Path) -> None:
    source = textwrap.dedent(CASES).lstrip()
    path = tmp_path / "typed_cases.py"
    path.write_text(source)
    out = mypy(path)
    reveals, errors = expectations(source)
    got_reveals = {
        int(m.group(1)): m.group(2)
        for m in re.finditer(r":(\d+): note: Revealed type is \"(.+)\"", out)
    }
    got_errors = {
        (int(m.group(1)), m.group(2))
        for m in re.finditer(r":(\d+): error: .*\[([\w-]+)\]$", out, re.MULTILINE)
    }
    assert got_reveals == reveals, out
    assert got_errors == errors, out


def test_call_is_typed_for_every_action_of_every_version(tmp_path: Path) -> None:
    """One reveal_type per request class of every version: each is its own response type."""
    lines = ["import ocppfast", "from ocppfast import v16, v201, v21", ""]
    lines.append("async def f(cp: ocppfast.ChargePoint, cs: ocppfast.CentralSystem) -> None:")
    expected = {}
    count = 0
    for sub in versions.SUPPORTED:
        package = {"ocpp1.6": "v16", "ocpp2.0.1": "v201", "ocpp2.1": "v21"}[sub]
        for name, action in sorted(versions.actions(sub).items()):
            if action.response is None:
                continue
            req = f"{package}.{action.request.__name__}"
            lines.append(f"    r{count}: {req} = ...  # type: ignore[assignment]")
            lines.append(f"    reveal_type(await cp.call(r{count}))")
            expected[len(lines)] = f"ocppfast.{package}.messages.{action.response.__name__}"
            lines.append(f"    reveal_type(await cs.call('X', r{count}))")
            expected[len(lines)] = f"ocppfast.{package}.messages.{action.response.__name__}"
            count += 1
    path = tmp_path / "every_action.py"
    path.write_text("\n".join(lines) + "\n")
    out = mypy(path)
    got = {
        int(m.group(1)): m.group(2)
        for m in re.finditer(r":(\d+): note: Revealed type is \"(.+)\"", out)
    }
    assert count > 150  # 1.6, 2.0.1 and 2.1 together
    assert got == expected, out
    assert ": error:" not in out, out


@pytest.mark.parametrize("package", [v16, v201, v21])
def test_generated_requests_are_plain_structs(package: object) -> None:
    """``Request[...]`` adds no field, no mixin and changes no validation: each request's JSON
    schema (what msgspec validates) is that of a plain Struct with the same fields."""
    registry = package.ACTIONS  # type: ignore[attr-defined]
    assert Request.__struct_fields__ == ()
    for name, action in registry.items():
        if action.response is None:
            assert not issubclass(action.request, Request), name  # SEND-only: nothing to await
            continue
        assert issubclass(action.request, Request), name
        cls = action.request
        assert cls.__mro__[1:] == Request.__mro__  # no typing.Generic at run time
        plain = msgspec.defstruct(
            cls.__name__,
            [
                (
                    f.name,
                    f.type,
                    msgspec.field(name=f.encode_name)
                    if f.required
                    else msgspec.field(default=f.default, name=f.encode_name),
                )
                for f in msgspec.structs.fields(cls)
            ],
            kw_only=True,
            omit_defaults=True,
            forbid_unknown_fields=cls.__struct_config__.forbid_unknown_fields,
            module=cls.__module__,
        )
        schema = msgspec.json.schema(cls)
        schema["$defs"][cls.__name__].pop("description", None)  # the class docstring
        assert schema == msgspec.json.schema(plain), name


async def test_typed_calls_run_on_loopback() -> None:
    """The program's shapes work at run time: a typed call each way, typed handlers."""
    cs = ocppfast.CentralSystem(versions=["ocpp2.0.1"], ping_interval=0)

    @cs.on("BootNotification")
    def boot(
        cp: ocppfast.ChargePoint, req: v201.BootNotificationRequest
    ) -> v201.BootNotificationResponse:
        return v201.BootNotificationResponse(
            current_time=ocppfast.now(), interval=5, status=v201.RegistrationStatusEnumType.accepted
        )

    await cs.start("127.0.0.1", 0)
    try:

        def reset(req: v201.ResetRequest) -> v201.ResetResponse:
            return v201.ResetResponse(status=v201.ResetStatusEnumType.scheduled)

        cp = await ocppfast.connect(
            f"ws://127.0.0.1:{cs.port}",
            "TYPED-1",
            versions=["ocpp2.0.1"],
            handlers={"Reset": reset},
        )
        res = await cp.call(
            v201.BootNotificationRequest(
                charging_station=v201.ChargingStationType(vendor_name="V", model="M"),
                reason=v201.BootReasonEnumType.power_up,
            )
        )
        assert type(res) is v201.BootNotificationResponse and res.interval == 5
        answer = await cs.call("TYPED-1", v201.ResetRequest(type=v201.ResetEnumType.on_idle))
        assert type(answer) is v201.ResetResponse
        assert answer.status == v201.ResetStatusEnumType.scheduled
        await cp.close()
    finally:
        await cs.close()


def test_help_shows_the_public_api_only() -> None:
    import pydoc

    text = pydoc.render_doc(ocppfast.ChargePoint, renderer=pydoc.plaintext)
    for public in (
        "call(",
        "on(",
        "after(",
        "close(",
        "wait_closed(",
        "send(",
        "identity",
        "subprotocol",
        "add_custom_action(",
    ):
        assert public in text, public
    for internal in (
        "feed(",
        "attach(",
        "connection_lost(",
        "pause_writing(",
        "deliver(",
        "start_call(",
        "expire(",
        "rx_count",
        "_flow",
        "set_fragmenting(",
    ):
        assert internal not in text, internal
    # still there for the transport and the server
    assert callable(ocppfast.ChargePoint.feed) and callable(ocppfast.ChargePoint.start_call)
    client_text = pydoc.render_doc(ocppfast.client.ClientChargePoint, renderer=pydoc.plaintext)
    assert "call(" in client_text and "connection_lost(" not in client_text
