"""connect() failures are ConnectError subclasses that name the URL and the identity, each
against a real server on loopback (an ocppfast CentralSystem, or a tiny asyncio HTTP server for
statuses it does not send), a closed port, or a name that does not resolve (in a network
namespace of its own, so the DNS query cannot leave the machine)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import picows
import pytest

import ocppfast
from ocppfast import errors

ROOT = Path(__file__).resolve().parent.parent


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def central_system(**options: object) -> AsyncIterator[ocppfast.CentralSystem]:
    cs = ocppfast.CentralSystem(versions=["ocpp1.6"], ping_interval=0, **options)  # type: ignore[arg-type]
    await cs.start("127.0.0.1", 0)
    try:
        yield cs
    finally:
        await cs.close()


@contextlib.asynccontextmanager
async def http_server(status: int, headers: str = "") -> AsyncIterator[int]:
    """Answers every request with ``status`` (what a proxy or another server may send)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            await reader.readuntil(b"\r\n\r\n")
            body = b"go away"
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{headers}"
                "Connection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def check(exc: errors.ConnectError, url: str, identity: str) -> None:
    assert isinstance(exc, errors.ConnectError) and isinstance(exc, ConnectionError)
    assert exc.url == url and exc.identity == identity
    assert url in str(exc) and repr(identity) in str(exc)


async def test_refused() -> None:
    port = closed_port()
    with pytest.raises(errors.ConnectRefusedError) as info:
        await ocppfast.connect(f"ws://127.0.0.1:{port}", "CP-R", versions=["ocpp1.6"])
    check(info.value, f"ws://127.0.0.1:{port}/CP-R", "CP-R")
    assert isinstance(info.value, ConnectionRefusedError)  # what code caught before
    assert "refused" in str(info.value)


@pytest.mark.parametrize(
    ("url", "identity"),
    [
        ("http://127.0.0.1:9000", "CP-U"),
        ("127.0.0.1:9000", "CP-U"),
        ("ws://", "CP-U"),
        ("ws://127.0.0.1:99999", "CP-U"),
        ("ws://127.0.0.1:9000/", None),
        ("ws://127.0.0.1:9000", ""),
    ],
)
async def test_bad_url(url: str, identity: str | None) -> None:
    with pytest.raises(errors.InvalidURLError) as info:
        await ocppfast.connect(url, identity, versions=["ocpp1.6"])
    assert isinstance(info.value, ValueError) and info.value.url == url
    assert url in str(info.value)


def test_dns_failure_in_an_empty_network_namespace() -> None:
    """An unresolvable name. Run in ``unshare -rn`` (only a loopback, down): the resolver's query
    fails inside the machine instead of going to the configured name server."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare(1) is not installed")
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"user+network namespaces unavailable: {probe.stderr.decode().strip()}")
    program = textwrap.dedent(
        """
        import asyncio, ocppfast
        from ocppfast import errors

        async def main():
            try:
                await ocppfast.connect("ws://csms.invalid:9000/ocpp", "CP-D", versions=["ocpp1.6"])
            except errors.NameResolutionError as exc:
                assert exc.url == "ws://csms.invalid:9000/ocpp/CP-D" and exc.identity == "CP-D"
                assert isinstance(exc, errors.ConnectError)
                print("OK", exc)
            else:
                print("connected?")

        asyncio.run(main())
        """
    )
    result = subprocess.run(
        ["unshare", "-rn", sys.executable, "-c", program],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=60,
    )
    assert result.stdout.startswith("OK"), result.stdout + result.stderr
    assert "csms.invalid" in result.stdout and "CP-D" in result.stdout


async def test_401_authentication() -> None:
    async with central_system(passwords={"CP-A": "right-password-1"}) as cs:
        url = f"ws://127.0.0.1:{cs.port}/ocpp"
        with pytest.raises(errors.AuthenticationError) as info:
            await ocppfast.connect(url, "CP-A", versions=["ocpp1.6"], password="wrong")
        check(info.value, f"{url}/CP-A", "CP-A")
        assert info.value.status == 401 and "password" in str(info.value)
        assert isinstance(info.value, picows.WSError)  # what code caught before
        # with reconnect=True a 401 is not retried: it fails at once
        with pytest.raises(errors.AuthenticationError):
            await asyncio.wait_for(
                ocppfast.connect(
                    url, "CP-A", versions=["ocpp1.6"], password="wrong", reconnect=True
                ),
                5,
            )
        cp = await ocppfast.connect(url, "CP-A", versions=["ocpp1.6"], password="right-password-1")
        await cp.close()


async def test_404_unknown_identity() -> None:
    async with central_system(identity_known=lambda identity: identity == "KNOWN") as cs:
        url = f"ws://127.0.0.1:{cs.port}"
        with pytest.raises(errors.NotFoundError) as info:
            await ocppfast.connect(url, "STRANGER", versions=["ocpp1.6"])
        check(info.value, f"{url}/STRANGER", "STRANGER")
        assert info.value.status == 404


async def test_409_identity_in_use() -> None:
    async with central_system(duplicate_identity="reject") as cs:
        url = f"ws://127.0.0.1:{cs.port}"
        first = await ocppfast.connect(url, "TWIN", versions=["ocpp1.6"])
        with pytest.raises(errors.IdentityInUseError) as info:
            await ocppfast.connect(url, "TWIN", versions=["ocpp1.6"])
        check(info.value, f"{url}/TWIN", "TWIN")
        assert info.value.status == 409
        await first.close()


async def test_503_at_capacity() -> None:
    async with central_system(max_connections=0) as cs:
        url = f"ws://127.0.0.1:{cs.port}"
        with pytest.raises(errors.ServiceUnavailableError) as info:
            await ocppfast.connect(url, "BUSY", versions=["ocpp1.6"])
        check(info.value, f"{url}/BUSY", "BUSY")
        assert info.value.status == 503 and info.value.retry_after == 5.0


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (404, errors.NotFoundError),
        (409, errors.IdentityInUseError),
        (503, errors.ServiceUnavailableError),
        (500, errors.HTTPStatusError),
        (403, errors.HTTPStatusError),
    ],
)
async def test_status_from_a_plain_http_server(status: int, cls: type[errors.ConnectError]) -> None:
    async with http_server(status, "Retry-After: 30\r\n") as port:
        url = f"ws://127.0.0.1:{port}/csms"
        with pytest.raises(cls) as info:
            await ocppfast.connect(url, "CP-H", versions=["ocpp1.6"])
        check(info.value, f"{url}/CP-H", "CP-H")
        assert isinstance(info.value, errors.HTTPStatusError)
        assert info.value.status == status and info.value.body == b"go away"
        assert f"HTTP {status}" in str(info.value) and "go away" in str(info.value)
        if status == 503:
            assert isinstance(info.value, errors.ServiceUnavailableError)
            assert info.value.retry_after == 30.0


async def test_subprotocol_mismatch() -> None:
    cs = ocppfast.CentralSystem(versions=["ocpp2.1"], ping_interval=0)
    await cs.start("127.0.0.1", 0)
    try:
        url = f"ws://127.0.0.1:{cs.port}"
        with pytest.raises(errors.SubprotocolError) as info:
            await ocppfast.connect(url, "CP-S", versions=["ocpp1.6", "ocpp2.0.1"])
        check(info.value, f"{url}/CP-S", "CP-S")
        assert info.value.offered == ("ocpp1.6", "ocpp2.0.1") and info.value.chosen is None
        assert "ocpp1.6" in str(info.value)
        assert ocppfast.SubprotocolError is errors.SubprotocolError  # one class, re-exported
        assert ocppfast.client.SubprotocolError is errors.SubprotocolError
    finally:
        await cs.close()


async def test_handshake_timeout() -> None:
    """A server that accepts TCP and never answers the upgrade."""
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(errors.ConnectTimeoutError) as info:
            await ocppfast.connect(
                f"ws://127.0.0.1:{port}", "CP-T", versions=["ocpp1.6"], connect_timeout=0.3
            )
        check(info.value, f"ws://127.0.0.1:{port}/CP-T", "CP-T")
        assert isinstance(info.value, TimeoutError) and "0.3" in str(info.value)
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
