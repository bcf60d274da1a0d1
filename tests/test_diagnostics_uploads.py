"""Diagnostics upload addresses, end to end: a real server process, real chargers, raw HTTP.

The guard in front of Django must answer from the headers alone, so several
tests speak HTTP over a plain socket: they send the request head, never the
body, and expect the answer anyway.
"""

import asyncio
import json
import re
import select
import socket
import time
import urllib.request
import uuid
from datetime import timedelta
from urllib.error import HTTPError
from urllib.parse import urlsplit

import psutil
import pytest
from django.core import signing
from django.utils import timezone

from stations.models import DiagnosticsUpload, RemoteCommand
from stations.services import commands, diagnostics
from tests.conftest import _free_port, run_server
from tests.factories import STATION_PASSWORD, StationFactory
from tests.helpers import orm
from tests.ocpp_client import BackgroundCharger, Charger, auth_header, open_charger

pytestmark = pytest.mark.usefixtures("live_db")

GIGABYTE = 1024**3


@pytest.fixture(autouse=True)
def _no_configured_base_url(settings):
    # Commands are created in this process: it must not add a base of its own.
    settings.PUBLIC_BASE_URL = ""


def _diagnostics_path(server, identity: str) -> tuple[str, RemoteCommand]:
    """A GetDiagnostics answered by a real charger; returns its upload path and the command."""
    station = StationFactory(identity=identity)
    with BackgroundCharger(server.url, identity, STATION_PASSWORD, answers={"GetDiagnostics": {"fileName": "d.zip"}}):
        command = commands.command_send(station=station, action="GetDiagnostics", requested_via="test", timeout_s=10)
    assert command.status == "accepted", command.error_description
    return urlsplit(command.payload["location"]).path, command


def _head_only(port: int, method: str, path: str, headers: dict) -> tuple[int, bytes, float]:
    """Send a request head and no body; returns (status, body, seconds until the server answered
    and closed). A server that waits for the body fails this with a socket timeout."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", *(f"{k}: {v}" for k, v in headers.items())]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        received = b""
        while chunk := sock.recv(65536):  # a socket timeout here fails the test: no answer came
            received += chunk
        elapsed = time.monotonic() - started
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split()[1]), body, elapsed


def _upload(url: str, data: bytes, method: str = "PUT", headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {"X-Filename": "d.zip"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except HTTPError as exc:
        return exc.code, exc.read()


def _multipart(filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: application/zip\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def test_forged_token_with_a_gigabyte_declared_is_refused_before_the_body(ocpp_server):
    forged = signing.dumps({"upload": 1}, key="not-our-key", salt=diagnostics.UPLOAD_SALT)
    path = f"/uploads/diagnostics/{forged}/"
    # A first small request loads what any first request loads, so it does not count below.
    assert _head_only(ocpp_server.port, "PUT", path, {"Content-Length": "10"})[0] == 403
    server_process = psutil.Process(ocpp_server.process.pid)
    rss_before = server_process.memory_info().rss

    status, body, elapsed = _head_only(
        ocpp_server.port,
        "PUT",
        path,
        {"Content-Length": str(GIGABYTE), "Content-Type": "application/octet-stream"},
    )

    assert status == 403, body
    assert elapsed < 3, f"the refusal took {elapsed:.1f} s"
    assert server_process.memory_info().rss - rss_before < 20 * 1024 * 1024


def test_declared_body_over_the_limit_is_refused_at_once_and_the_address_still_works(ocpp_server):
    path, command = _diagnostics_path(ocpp_server, "DIAG-BIG")

    status, _, elapsed = _head_only(
        ocpp_server.port, "PUT", path, {"Content-Length": str(diagnostics.max_upload_bytes() + 1)}
    )

    assert status == 413
    assert elapsed < 3
    assert _upload(ocpp_server.http + path, b"log lines")[0] == 201
    assert command.station.diagnostics_files.get().size == len(b"log lines")


def test_valid_upload_stores_the_file_and_the_address_then_is_gone(ocpp_server):
    path, command = _diagnostics_path(ocpp_server, "DIAG-ONCE")
    body, content_type = _multipart("station log.zip", b"PK\x03\x04 log lines")

    first = _upload(ocpp_server.http + path, body, method="POST", headers={"Content-Type": content_type})
    again = _head_only(ocpp_server.port, "PUT", path, {"Content-Length": str(GIGABYTE)})

    assert first[0] == 201, first
    stored = command.station.diagnostics_files.get()
    assert (stored.command_id, stored.size) == (command.pk, len(b"PK\x03\x04 log lines"))
    with stored.file.open("rb") as f:
        assert f.read() == b"PK\x03\x04 log lines"
    assert re.fullmatch(r"diagnostics/DIAG-ONCE/station_log\w*\.zip", stored.file.name), stored.file.name
    assert DiagnosticsUpload.objects.get(command=command).used_at is not None
    assert again[0] == 410, again
    assert _upload(ocpp_server.http + path, b"second copy")[0] == 410
    assert command.station.diagnostics_files.count() == 1


def test_each_get_diagnostics_gets_its_own_address(ocpp_server):
    first_path, first = _diagnostics_path(ocpp_server, "DIAG-TWO")
    station = first.station
    with BackgroundCharger(ocpp_server.url, "DIAG-TWO", STATION_PASSWORD):
        second = commands.command_send(station=station, action="GetDiagnostics", requested_via="test", timeout_s=10)
    second_path = urlsplit(second.payload["location"]).path

    assert first_path != second_path
    assert _upload(ocpp_server.http + first_path, b"one")[0] == 201
    assert _upload(ocpp_server.http + second_path, b"two")[0] == 201
    assert sorted(station.diagnostics_files.values_list("size", flat=True)) == [3, 3]


def test_expired_address_is_refused_before_the_body(ocpp_server):
    path, command = _diagnostics_path(ocpp_server, "DIAG-OLD")
    DiagnosticsUpload.objects.filter(command=command).update(expires_at=timezone.now() - timedelta(seconds=1))

    status, body, _ = _head_only(ocpp_server.port, "PUT", path, {"Content-Length": str(GIGABYTE)})

    assert status == 410, body
    assert b"expired" in body
    assert not command.station.diagnostics_files.exists()


def test_token_signed_longer_ago_than_the_lifetime_is_refused(ocpp_server):
    _, command = _diagnostics_path(ocpp_server, "DIAG-SIGNED-OLD")
    grant = DiagnosticsUpload.objects.get(command=command)

    class SignedTwoHoursAgo(signing.TimestampSigner):
        def timestamp(self):
            return signing.b62_encode(int(time.time()) - 7200)

    token = SignedTwoHoursAgo(salt=diagnostics.UPLOAD_SALT).sign_object({"upload": grant.pk})
    status, _, _ = _head_only(ocpp_server.port, "PUT", f"/uploads/diagnostics/{token}/", {"Content-Length": "10"})

    assert status == 410


def test_body_without_length_is_cut_off_at_the_limit():
    with run_server(DIAGNOSTICS_MAX_UPLOAD_BYTES="4096", PUBLIC_BASE_URL="") as server:
        path, command = _diagnostics_path(server, "DIAG-STREAM")
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
            for _ in range(64):  # up to 64 KB, far past the limit; stop once answered
                sock.sendall(b"400\r\n" + b"x" * 1024 + b"\r\n")
                if select.select([sock], [], [], 0.05)[0]:
                    break
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
        small = _upload(server.http + path, b"y" * 4096)

    assert received.split()[1] == b"413", received
    assert small[0] == 201, small
    assert command.station.diagnostics_files.get().size == 4096


async def _location_handed_over(url: str, identity: str, extra_headers: dict) -> tuple[str, str]:
    """Connect with these request headers, boot, and return (GetDiagnostics location received,
    location the command row keeps)."""
    station = await orm(lambda: StationFactory(identity=identity))
    headers = {**auth_header(identity, STATION_PASSWORD), **extra_headers}
    async with open_charger(url, identity, STATION_PASSWORD, additional_headers=headers) as ws:
        charger = Charger(ws)
        await charger.result("BootNotification", {"chargePointVendor": "T", "chargePointModel": "T"})
        command = await orm(
            lambda: commands.command_create(station=station, action="GetDiagnostics", requested_via="test")
        )
        await commands.dispatch(command, wait=False)
        frame = await charger.recv(10)
        assert frame[2] == "GetDiagnostics", frame
        await ws.send(json.dumps([3, frame[1], {}]))
    kept = await orm(lambda: RemoteCommand.objects.get(pk=command.pk).payload["location"])
    return frame[3]["location"], kept


def test_location_names_the_port_and_host_the_charger_connected_to():
    port = _free_port()
    with run_server(port=port, PUBLIC_BASE_URL="") as server:
        sent, kept = asyncio.run(
            _location_handed_over(f"ws://localhost:{port}/ocpp/", "DIAG-HOST", {"X-Forwarded-Host": "attacker.example"})
        )
        status, _ = _upload(sent, b"from the address we were given")

    assert sent.startswith(f"http://localhost:{port}/uploads/diagnostics/"), sent
    assert kept == sent
    assert status == 201
    assert server.port == port


def test_forwarded_address_is_used_only_behind_a_trusted_proxy():
    with run_server(PUBLIC_BASE_URL="", TRUST_X_FORWARDED="1") as server:
        sent, _ = asyncio.run(
            _location_handed_over(
                server.url,
                "DIAG-PROXY",
                {"X-Forwarded-Host": "portal.example.com", "X-Forwarded-Proto": "https"},
            )
        )

    assert sent.startswith("https://portal.example.com/uploads/diagnostics/"), sent


def test_configured_public_base_url_is_handed_over_as_it_is(ocpp_server, settings):
    settings.PUBLIC_BASE_URL = "https://portal.example.com/"
    station = StationFactory(identity="DIAG-BASE")
    with BackgroundCharger(ocpp_server.url, "DIAG-BASE", STATION_PASSWORD) as charger:
        command = commands.command_send(station=station, action="GetDiagnostics", requested_via="test", timeout_s=10)

    sent = charger.calls[0][3]["location"]
    assert sent.startswith("https://portal.example.com/uploads/diagnostics/"), sent
    assert command.payload["location"] == sent
