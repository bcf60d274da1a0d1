"""Diagnostics files that stations upload after GetDiagnostics.

Each GetDiagnostics gets its own upload address, `<base>/uploads/diagnostics/<token>/`,
where the token is a signed reference to a DiagnosticsUpload row. The address
works once and for DIAGNOSTICS_UPLOAD_TTL_S seconds. Requests to it are judged
twice by the same rules: before their body is read (stations/uploads_asgi.py,
from the headers alone) and when the file is stored (the view, which claims
the row by compare-and-swap).

The base is PUBLIC_BASE_URL when that is set; otherwise the server holding the
charger's socket fills it in when it sends the command, from the address that
socket was opened to, so a charger is never sent to a port nobody listens on.
"""

import functools
from collections.abc import Iterable
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import BinaryIO

from django.conf import settings
from django.core import signing
from django.core.files.base import File
from django.db import transaction
from django.http.request import split_domain_port, validate_host
from django.urls import reverse
from django.utils import timezone

from stations.models import DiagnosticsFile, DiagnosticsUpload, RemoteCommand

# A new salt: addresses signed before uploads were single-use do not verify.
UPLOAD_SALT = "stations.diagnostics-upload.v2"
_WS_TO_HTTP = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


class UploadRefused(Exception):
    """An upload we do not take; `status` is the HTTP answer."""

    def __init__(self, status: HTTPStatus, reason: str):
        super().__init__(reason)
        self.status = status


def max_upload_bytes() -> int:
    return settings.DIAGNOSTICS_MAX_UPLOAD_BYTES


# --- the address ----------------------------------------------------------


def diagnostics_upload_grant(*, command: RemoteCommand, now: datetime | None = None) -> str:
    """Let the station of this GetDiagnostics upload one file; returns the location to send it.

    The location is absolute when PUBLIC_BASE_URL is set, else a path that
    `diagnostics_upload_locate` completes when the command is sent.
    """
    now = now or timezone.now()
    grant = DiagnosticsUpload.objects.create(
        command=command,
        station_id=command.station_id,
        expires_at=now + timedelta(seconds=settings.DIAGNOSTICS_UPLOAD_TTL_S),
    )
    path = reverse("diagnostics-upload", args=[signing.dumps({"upload": grant.pk}, salt=UPLOAD_SALT)])
    return settings.PUBLIC_BASE_URL.rstrip("/") + path if settings.PUBLIC_BASE_URL else path


def upload_location_unresolved(action: str, payload: dict) -> bool:
    """True for a GetDiagnostics whose upload address still lacks scheme and host."""
    return action == "GetDiagnostics" and str(payload.get("location", "")).startswith(_upload_prefix())


def upload_base_url(*, scheme: str, headers: Iterable[tuple[bytes, bytes]], server: tuple | None) -> str:
    """`scheme://host[:port]` a charger reached us at, from its websocket request.

    X-Forwarded-Proto/Host count only with TRUST_X_FORWARDED (a proxy of ours
    sets them; anyone else could). A Host that Django would refuse is ignored
    in favour of the address the socket was accepted on.
    """
    if settings.PUBLIC_BASE_URL:
        return settings.PUBLIC_BASE_URL.rstrip("/")
    fields = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in headers}
    host = fields.get("host", "").strip()
    http_scheme = _WS_TO_HTTP.get(scheme.lower(), "http")
    if settings.TRUST_X_FORWARDED:
        forwarded_host = fields.get("x-forwarded-host", "").split(",")[0].strip()
        forwarded_proto = fields.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        host = forwarded_host or host
        http_scheme = _WS_TO_HTTP.get(forwarded_proto, http_scheme)
    if not _acceptable_host(host):
        host = _server_address(server)
    return f"{http_scheme}://{host}"


def diagnostics_upload_locate(*, command_id: int, base_url: str) -> dict:
    """Complete the upload address of a GetDiagnostics about to be sent; returns the payload to send.

    The row keeps what the charger was told.
    """
    with transaction.atomic():
        command = RemoteCommand.objects.select_for_update().get(pk=command_id)
        payload = dict(command.payload)
        if upload_location_unresolved(command.action, payload):
            payload["location"] = base_url.rstrip("/") + payload["location"]
            RemoteCommand.objects.filter(pk=command_id).update(payload=payload)
    return payload


@functools.cache
def _upload_prefix() -> str:
    probe = "T"
    return reverse("diagnostics-upload", args=[probe])[: -len(probe) - 1]


def _acceptable_host(host: str) -> bool:
    domain, _port = split_domain_port(host)
    if not domain:
        return False
    allowed = settings.ALLOWED_HOSTS or ([".localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
    return validate_host(domain, allowed)


def _server_address(server: tuple | None) -> str:
    if not server:
        return "localhost"
    address, port = server[0], server[1]
    address = f"[{address}]" if ":" in address else address
    return f"{address}:{port}" if port else address


# --- judging an upload ----------------------------------------------------


def upload_token_in_path(path: str) -> str | None:
    """The token of an upload address, or None when the path is not one."""
    prefix = _upload_prefix()
    if not path.startswith(prefix):
        return None
    token, slash, rest = path[len(prefix) :].partition("/")
    return token if token and slash and not rest else None


def upload_token_check(*, token: str) -> int:
    """A token we signed, young enough; returns the DiagnosticsUpload id it names.
    Needs no database, so a forged address costs us nothing more."""
    try:
        claims = signing.loads(token, salt=UPLOAD_SALT, max_age=settings.DIAGNOSTICS_UPLOAD_TTL_S)
    except signing.SignatureExpired:
        raise UploadRefused(HTTPStatus.GONE, "this upload address has expired") from None
    except signing.BadSignature:
        raise UploadRefused(HTTPStatus.FORBIDDEN, "unknown upload address") from None
    if not isinstance(claims, dict) or not isinstance(claims.get("upload"), int):
        raise UploadRefused(HTTPStatus.FORBIDDEN, "unknown upload address")
    return claims["upload"]


def upload_size_check(*, length: int | None) -> None:
    """A declared (or counted) size we take; None, undeclared, is judged while the body streams."""
    if length is not None and length > max_upload_bytes():
        raise UploadRefused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"a file may be at most {max_upload_bytes()} bytes")


def upload_grant_check(*, upload_id: int, now: datetime | None = None) -> DiagnosticsUpload:
    """The leave the token names is still there (its command too), unused and unexpired."""
    now = now or timezone.now()
    grant = DiagnosticsUpload.objects.select_related("station").filter(pk=upload_id).first()
    if grant is None:
        raise UploadRefused(HTTPStatus.FORBIDDEN, "unknown upload address")
    if grant.used_at is not None:
        raise UploadRefused(HTTPStatus.GONE, "this upload address has been used")
    if grant.expires_at <= now:
        raise UploadRefused(HTTPStatus.GONE, "this upload address has expired")
    return grant


def diagnostics_store(*, token: str, filename: str, content: BinaryIO, now: datetime | None = None) -> DiagnosticsFile:
    """Store an upload against the station and command its token names; the token is then spent.

    The file is written before the token is claimed, so a failed write leaves
    the address usable for the charger's retry; of two uploads racing on one
    token, the one that loses the claim has its file removed.
    """
    grant = upload_grant_check(upload_id=upload_token_check(token=token), now=now)
    safe_name = "".join(c if c.isalnum() or c in "._-" else "_" for c in filename)[:100] or "diagnostics.bin"
    upload = DiagnosticsFile(station=grant.station, command_id=grant.command_id, size=0)
    capped = _Capped(content, max_upload_bytes() + 1)
    upload.file.save(safe_name, capped, save=False)
    upload.size = capped.count
    try:
        upload_size_check(length=upload.size)
        now = now or timezone.now()
        with transaction.atomic():
            claimed = DiagnosticsUpload.objects.filter(pk=grant.pk, used_at__isnull=True, expires_at__gt=now).update(
                used_at=now
            )
            if not claimed:
                raise UploadRefused(HTTPStatus.GONE, "this upload address has been used")
            upload.save()
    except BaseException:
        upload.file.delete(save=False)
        raise
    return upload


class _Capped(File):
    """Reads at most `cap` bytes of a stream, counting them (a request body has no size of its own)."""

    def __init__(self, stream: BinaryIO, cap: int):
        super().__init__(stream, name=getattr(stream, "name", None))
        self.cap, self.count = cap, 0

    def read(self, size: int = -1) -> bytes:
        left = self.cap - self.count
        if left <= 0:
            return b""
        data = self.file.read(left if size is None or size < 0 else min(size, left))
        self.count += len(data)
        return data

    def chunks(self, chunk_size: int | None = None):
        chunk_size = chunk_size or self.DEFAULT_CHUNK_SIZE
        while data := self.read(chunk_size):
            yield data
