"""Charger passwords (OCPP security profile 1 AuthorizationKey).

These are long random machine secrets, not human passwords. A slow key
derivation (PBKDF2, bcrypt) exists to make guessing a low-entropy password
expensive; a 128-bit random secret cannot be guessed at any speed, so its
hash only has to be one-way and salted. One salted SHA-256 costs about a
microsecond, so 10,000 chargers reconnecting after a restart are checked in
milliseconds instead of the ~50 minutes PBKDF2 at 0.3 s each would take.
Because the speed is only safe for random secrets, set passwords must be at
least 16 characters (the Security Whitepaper's minimum) and generated ones
carry 192 bits.
"""

import hashlib
import hmac
import secrets

ALGORITHM = "sha256"
MIN_LENGTH = 16
MAX_LENGTH = 40


class WeakPassword(ValueError):
    pass


def generate_password() -> str:
    return secrets.token_urlsafe(24)  # 32 characters, 192 bits


def check_password_rules(password: str) -> None:
    if not (MIN_LENGTH <= len(password) <= MAX_LENGTH):
        raise WeakPassword(f"a charger password must be {MIN_LENGTH} to {MAX_LENGTH} characters")
    if not password.isascii() or not password.isprintable():
        raise WeakPassword("a charger password must be printable ASCII")


def hash_password(password: str) -> str:
    salt = secrets.token_hex(8)
    digest = hashlib.sha256(f"{salt}${password}".encode()).hexdigest()
    return f"{ALGORITHM}${salt}${digest}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        algorithm, salt, digest = encoded.split("$", 2)
    except ValueError:
        return False
    if algorithm != ALGORITHM:
        return False
    candidate = hashlib.sha256(f"{salt}${password}".encode()).hexdigest()
    return hmac.compare_digest(candidate, digest)
