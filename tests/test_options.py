"""The connection options are defined once (ocppfast/options.py) and shared by CentralSystem,
connect() and the engine; an unknown option is a TypeError naming it; docs/options.md is made
from the same definition."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import ocppfast
from ocppfast import _engine, options

ROOT = Path(__file__).resolve().parent.parent


def test_engine_keywords_are_the_option_names_with_the_same_defaults() -> None:
    """Every option marked ``engine`` is a keyword of Engine.__init__ (the pure source, which the
    compiled module is built from) with the same default."""
    params = inspect.signature(_engine.Engine.__init__).parameters
    every = {
        **options.options_of(options.ServerOptions),
        **options.options_of(options.ClientOptions),
    }
    engine_ones = {name: opt for name, (_, opt) in every.items() if opt.engine}
    assert len(engine_ones) >= 10
    for name, opt in engine_ones.items():
        assert name in params, f"{name} is not a keyword of Engine.__init__"
        assert params[name].default == opt.default, name


def test_both_sides_share_the_common_options() -> None:
    common = options.options_of(options.CommonOptions)
    server = options.options_of(options.ServerOptions)
    client = options.options_of(options.ClientOptions)
    for name, spec in common.items():
        assert server[name] == spec and client[name] == spec
    assert "require_boot" in server and "require_boot" not in client
    assert "reconnect" in client and "reconnect" not in server


@pytest.mark.parametrize(
    ("make", "wrong", "hint"),
    [
        (lambda **kw: ocppfast.CentralSystem(**kw), "call_timout", "call_timeout"),
        (lambda **kw: ocppfast.CentralSystem(**kw), "pingInterval", "ping_interval"),
        (lambda **kw: ocppfast.CentralSystem(**kw), "max_conections", "max_connections"),
    ],
)
def test_unknown_option_of_central_system_is_a_type_error(make: Any, wrong: str, hint: str) -> None:
    with pytest.raises(TypeError, match=f"unknown option '{wrong}'; did you mean '{hint}'"):
        make(**{wrong: 1})


def test_option_of_the_other_side_says_so() -> None:
    with pytest.raises(TypeError, match="'password': it is an option of connect"):
        ocppfast.CentralSystem(password="x")  # type: ignore[call-arg]


async def test_connect_unknown_option_is_a_type_error_before_any_network() -> None:
    # port 9 on loopback: nothing is contacted, the options are checked first
    with pytest.raises(
        TypeError, match="unknown option 'call_timout'; did you mean 'call_timeout'"
    ):
        await ocppfast.connect("ws://127.0.0.1:9", "CP-1", call_timout=3)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="'require_boot': it is an option of CentralSystem"):
        await ocppfast.connect("ws://127.0.0.1:9", "CP-1", require_boot=True)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unknown option 'create_connection_kw'"):
        await ocppfast.connect("ws://127.0.0.1:9", "CP-1", create_connection_kw=1)  # type: ignore[call-arg]


async def test_serve_checks_options_too() -> None:
    with pytest.raises(TypeError, match="did you mean 'require_boot'"):
        await ocppfast.serve("127.0.0.1", 0, requre_boot=True)  # type: ignore[call-arg]


def test_signatures_list_every_option_with_its_default() -> None:
    cs_sig = inspect.signature(ocppfast.CentralSystem)
    client_sig = inspect.signature(ocppfast.connect)
    for name, (_, opt) in options.options_of(options.ServerOptions).items():
        assert cs_sig.parameters[name].default == opt.default
    for name, (_, opt) in options.options_of(options.ClientOptions).items():
        assert client_sig.parameters[name].default == opt.default
    assert client_sig.parameters["ping_interval"].default == 0.0  # per side
    assert cs_sig.parameters["ping_interval"].default == 60.0
    assert not any(p.kind is p.VAR_KEYWORD for p in cs_sig.parameters.values())


def test_docs_options_md_is_generated_from_the_definition() -> None:
    doc = ROOT / "docs" / "options.md"
    if not doc.exists():
        pytest.skip("needs the source tree's docs/")
    assert doc.read_text() == options.markdown()
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_options_doc.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    every = {
        **options.options_of(options.ServerOptions),
        **options.options_of(options.ClientOptions),
    }
    text = doc.read_text()
    for name in every:
        assert f"| `{name}` |" in text


async def test_options_reach_the_connections_on_both_sides() -> None:
    """Values given to CentralSystem and connect() are what each side's engine runs with."""
    seen: list[ocppfast.ChargePoint] = []
    cs = ocppfast.CentralSystem(
        versions=["ocpp1.6"],
        ping_interval=0,
        call_timeout=7.5,
        max_outstanding=3,
        max_unanswered_calls=9,
        require_boot=True,
        validate_outgoing=False,
        on_connect=seen.append,
    )
    await cs.start("127.0.0.1", 0)
    try:
        cp = await ocppfast.connect(
            f"ws://127.0.0.1:{cs.port}",
            "OPT-1",
            versions=["ocpp1.6"],
            call_timeout=2.5,
            max_outstanding=2,
            validate_incoming=False,
            local_addr=("127.0.0.1", 0),
        )
        station = await cs.wait_for("OPT-1", 5)
        assert seen == [station]
        assert (station.call_timeout, station.max_outstanding, station.max_unanswered_calls) == (
            7.5,
            3,
            9,
        )
        assert station.require_boot and not station.accepted and not station.validate_outgoing
        assert (cp.call_timeout, cp.max_outstanding, cp.validate_incoming) == (2.5, 2, False)
        # require_boot is in force: a CALL before an accepted BootNotification is refused
        with pytest.raises(ocppfast.errors.SecurityError):
            await cp.call("Heartbeat", {})
        await cp.close()
    finally:
        await cs.close()
