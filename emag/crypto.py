"""Encryption at rest for eMAG API passwords (Fernet, with key rotation).

MAGFLOW_ENCRYPTION_KEY holds one or more Fernet keys, comma-separated: the first
encrypts, every key decrypts, so a new key can be put first and
`manage.py rotate_encryption_keys` re-encrypts every row with it.
"""

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# Used only when no key is configured and DEBUG is on (the demo); the system
# check magflow.E002 refuses to run without a real key when DEBUG is off.
DEVELOPMENT_KEY = "bWFnZmxvdy1kZXZlbG9wbWVudC1rZXktbm90LXNlY3I="


class DecryptionError(Exception):
    """The stored secret cannot be decrypted with any configured key."""


def configured_keys() -> list[str]:
    keys = [key.strip() for key in settings.MAGFLOW_ENCRYPTION_KEYS if key.strip()]
    return keys or [DEVELOPMENT_KEY]


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured("MAGFLOW_ENCRYPTION_KEY holds a key that is not a valid Fernet key.") from exc


def fernet() -> MultiFernet:
    return _fernet(tuple(configured_keys()))


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError("The stored secret cannot be decrypted with the configured keys.") from exc


def rotate(token: str) -> str:
    """The same secret, encrypted with the first key."""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError("The stored secret cannot be decrypted with the configured keys.") from exc
