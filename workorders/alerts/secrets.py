"""Webhook signing secrets: generated per endpoint, stored so they can sign, readable by nobody else.

A secret is kept encrypted with Fernet (the `cryptography` library). The key is
ALERTS_SECRET_KEY when set (a Fernet key, so rotating the Django SECRET_KEY does
not lose the secrets), else one derived from SECRET_KEY. A database dump alone
therefore reveals no secret. An endpoint may instead name an environment
variable that holds its secret; then nothing is stored at all.
"""

import base64
import hashlib
import os
import secrets

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def _fernet() -> Fernet:
    key = settings.ALERTS_SECRET_KEY
    if not key:
        digest = hashlib.sha256(b"alerts-webhook-secrets:" + settings.SECRET_KEY.encode()).digest()
        key = base64.urlsafe_b64encode(digest).decode()
    return Fernet(key)


def secret_generate() -> str:
    """A new secret in the Standard Webhooks form: whsec_ and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_seal(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def secret_open(*, sealed: str, env_name: str) -> str:
    if env_name:
        value = os.environ.get(env_name, "")
        if not value:
            raise ImproperlyConfigured(f"the webhook secret variable {env_name} is not set")
        return value
    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured("the webhook secret cannot be read with this ALERTS_SECRET_KEY") from None
