"""Diagnostics files that stations upload after GetDiagnostics."""

from django.core import signing
from django.core.files.base import ContentFile

from stations.models import DiagnosticsFile, RemoteCommand

from .commands import DIAGNOSTICS_SALT

MAX_UPLOAD_BYTES = 100 * 1024 * 1024
UPLOAD_TOKEN_MAX_AGE_S = 7 * 24 * 3600


class UploadRefused(ValueError):
    pass


def diagnostics_store(*, token: str, filename: str, content: bytes) -> DiagnosticsFile:
    """Store an upload; the token in its URL names the station and command, signed by us."""
    try:
        claims = signing.loads(token, salt=DIAGNOSTICS_SALT, max_age=UPLOAD_TOKEN_MAX_AGE_S)
    except signing.BadSignature:
        raise UploadRefused("unknown or expired upload address") from None
    if len(content) > MAX_UPLOAD_BYTES:
        raise UploadRefused("file too large")
    safe_name = "".join(c if c.isalnum() or c in "._-" else "_" for c in filename)[:100] or "diagnostics.bin"
    command = RemoteCommand.objects.filter(pk=claims["command"], station_id=claims["station"]).first()
    upload = DiagnosticsFile(station_id=claims["station"], command=command, size=len(content))
    upload.file.save(safe_name, ContentFile(content), save=False)
    upload.save()
    return upload
