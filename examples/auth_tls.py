"""Security profiles 1-3 (OCPP 1.6 security extension, OCPP 2.0.1 part 2), on loopback.

1. HTTP Basic auth over ``ws://``: ``passwords`` on the central system, ``password`` on the
   station (sent as ``identity:password``); a wrong password is refused with HTTP 401.
2. TLS + Basic auth: ``ssl`` on both sides, the station trusting the CA of the server
   certificate.
3. TLS with client certificates, no password: the central system requires a certificate signed by
   its CA, whose commonName is the station's identity.

The certificates are made by ``certs.py`` in a temporary directory. The security profiles work
the same in 1.6 and 2.0.1; ``--version`` picks the one the station speaks.

    python examples/auth_tls.py --version ocpp2.0.1
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import tempfile
from pathlib import Path
from typing import Any

from certs import Certs, make_certs

import ocppfast

IDENTITY = "CP-1"
PASSWORD = "0123456789abcdef"  # 1.6 AuthorizationKey: 16-20 bytes; 2.0.1: 16-40 characters


def heartbeat(cp: ocppfast.ChargePoint, req: Any) -> dict[str, Any]:
    return {"currentTime": ocppfast.now()}  # a dict in wire names suits every version


def server_context(certs: Certs, client_certificates: bool) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certs.server_cert, certs.server_key)
    if client_certificates:  # security profile 3
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(certs.ca)
    return ctx


def station_context(certs: Certs, client_certificate: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    if client_certificate:  # security profile 3
        ctx.load_cert_chain(certs.client_cert, certs.client_key)
    return ctx


async def station(label: str, url: str, version: str, **options: Any) -> None:
    try:
        cp = await ocppfast.connect(url, IDENTITY, versions=[version], **options)
    except Exception as exc:  # noqa: BLE001 - the example shows what a refusal raises
        print(f"{label}: refused ({type(exc).__name__})")
        return
    response = await cp.call("Heartbeat", {})
    print(
        f"{label}: connected over {url.split(':')[0]}, Heartbeat answered {response.current_time}"
    )
    await cp.close()


async def main(version: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        certs = make_certs(Path(tmp), IDENTITY)

        # Security profile 1: Basic auth on a plain WebSocket (trusted networks only).
        cs = ocppfast.CentralSystem(passwords={IDENTITY: PASSWORD})
        cs.on("Heartbeat", heartbeat)
        async with cs:
            await cs.start("127.0.0.1", 0)
            url = f"ws://127.0.0.1:{cs.port}"
            await station("profile 1, right password", url, version, password=PASSWORD)
            await station("profile 1, wrong password", url, version, password="wrong-password-00")

        # Security profile 2: TLS, and Basic auth inside it.
        cs = ocppfast.CentralSystem(
            passwords={IDENTITY: PASSWORD}, ssl=server_context(certs, client_certificates=False)
        )
        cs.on("Heartbeat", heartbeat)
        async with cs:
            await cs.start("127.0.0.1", 0)
            url = f"wss://127.0.0.1:{cs.port}"
            tls = station_context(certs, client_certificate=False)
            await station("profile 2, right password", url, version, password=PASSWORD, ssl=tls)
            await station("profile 2, no password", url, version, ssl=tls)

        # Security profile 3: TLS with a client certificate instead of a password.
        cs = ocppfast.CentralSystem(ssl=server_context(certs, client_certificates=True))
        cs.on("Heartbeat", heartbeat)
        async with cs:
            await cs.start("127.0.0.1", 0)
            url = f"wss://127.0.0.1:{cs.port}"
            with_cert = station_context(certs, client_certificate=True)
            without = station_context(certs, client_certificate=False)
            await station("profile 3, client certificate", url, version, ssl=with_cert)
            await station("profile 3, no client certificate", url, version, ssl=without)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--version", default="ocpp2.0.1", choices=["ocpp1.6", "ocpp2.0.1"])
    asyncio.run(main(parser.parse_args().version))
