"""Sealed values: what exact replay needs, kept encrypted and never in plain text.

Spans and runs are stored redacted (console/kernel/redaction.py). Where redaction changed a value that
a recorded replay must give back as it was (a model's or a tool's output or error, a run's
input), the original is sealed: AES-GCM (authenticated encryption) with a random nonce, bound to
the row it belongs to (the associated data), so a sealed value copied onto another row does not
open.

Keys (``settings.STEWARD_ENCRYPTION_KEY``): base64 of 16, 24 or 32 random bytes, several
separated by commas; the first seals, every one opens (rotation: put the new key first and keep
the old ones while values sealed with them are still wanted). With none set, the key is derived
from SECRET_KEY with HKDF-SHA256, and SECRET_KEY_FALLBACKS open too, so Django's own rotation of
SECRET_KEY keeps sealed values readable as long as the old key stays in the fallbacks.
A sealed value carries a 4-byte id of its key (a hash prefix), so opening tries one key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

__all__ = [
    "CHECKPOINTS_KEY_PURPOSE",
    "VALUES_KEY_PURPOSE",
    "Keyring",
    "SealError",
    "generate_key",
    "keyring_from",
    "open_json",
    "parse_keys",
    "seal_json",
    "secret_keys",
    "values_keyring",
]

_VERSION = b"\x01"
_NONCE = 12
_KEY_ID = 4
_TAG = 16


class SealError(Exception):
    """A sealed value cannot be opened: none of the configured keys sealed it, or it was altered."""


def generate_key() -> str:
    """A new key for STEWARD_ENCRYPTION_KEY or STEWARD_CHECKPOINT_ENCRYPTION_KEY."""
    return base64.b64encode(os.urandom(32)).decode()


def parse_keys(text: str, name: str) -> list[bytes]:
    """Comma-separated base64 keys of 16, 24 or 32 bytes (standard or URL-safe alphabet).

    Raises:
        ImproperlyConfigured: a key that is not base64 or has another length.
    """
    keys: list[bytes] = []
    for position, item in enumerate((part.strip() for part in text.split(",")), start=1):
        if not item:
            continue
        padded = item + "=" * (-len(item) % 4)
        try:
            raw = base64.b64decode(padded, altchars=b"-_" if ("-" in item or "_" in item) else None, validate=True)
        except (binascii.Error, ValueError):
            raise ImproperlyConfigured(
                f"{name}: key {position} is not base64 (make one with "
                f"`python -c \"import base64,os; print(base64.b64encode(os.urandom(32)).decode())\"`)"
            ) from None
        if len(raw) not in (16, 24, 32):
            raise ImproperlyConfigured(f"{name}: key {position} is {len(raw)} bytes; a key is 16, 24 or 32 random bytes")
        keys.append(raw)
    return keys


def _key_id(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()[:_KEY_ID]


class Keyring:
    """AES-GCM with the first key; opens what any of its keys sealed."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        self._ciphers: dict[bytes, AESGCM] = {}
        for key in keys:
            self._ciphers.setdefault(_key_id(key), AESGCM(key))
        self._sealing_id = _key_id(keys[0])

    def seal(self, plaintext: bytes, context: bytes = b"") -> bytes:
        nonce = os.urandom(_NONCE)
        ciphertext = self._ciphers[self._sealing_id].encrypt(nonce, plaintext, context)
        return _VERSION + self._sealing_id + nonce + ciphertext

    def open(self, sealed: bytes, context: bytes = b"") -> bytes:
        """Raises:
        SealError: not a sealed value, sealed with a key not configured here, or altered."""
        sealed = bytes(sealed)
        if len(sealed) < 1 + _KEY_ID + _NONCE + _TAG or sealed[:1] != _VERSION:
            raise SealError("not a sealed value")
        cipher = self._ciphers.get(sealed[1 : 1 + _KEY_ID])
        if cipher is None:
            raise SealError("sealed with a key that is not configured here (was the encryption key or SECRET_KEY changed?)")
        nonce = sealed[1 + _KEY_ID : 1 + _KEY_ID + _NONCE]
        try:
            return cipher.decrypt(nonce, sealed[1 + _KEY_ID + _NONCE :], context)
        except InvalidTag:
            raise SealError("the sealed value does not open: altered, or sealed for another row") from None


# What a key derived from SECRET_KEY is for: values and checkpoints get different keys.
VALUES_KEY_PURPOSE = b"steward sealed values v1"
CHECKPOINTS_KEY_PURPOSE = b"steward checkpoints v1"


def _derived(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret.encode())


@lru_cache(maxsize=8)
def keyring_from(configured: str, name: str, secrets: tuple[str, ...], purpose: bytes) -> Keyring:
    """The keys set in the setting `name`, or with none set, keys derived from SECRET_KEY and its
    fallbacks for this purpose."""
    keys = parse_keys(configured, name) if configured.strip() else [_derived(s, purpose) for s in secrets]
    return Keyring(keys)


def secret_keys() -> tuple[str, ...]:
    """SECRET_KEY, then SECRET_KEY_FALLBACKS: derived keyrings seal with the first, open with all."""

    return (settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", []))


def values_keyring() -> Keyring:
    """The keyring for sealed span values and run inputs, from the settings."""

    configured = getattr(settings, "STEWARD_ENCRYPTION_KEY", "") or ""
    return keyring_from(configured, "STEWARD_ENCRYPTION_KEY", secret_keys(), VALUES_KEY_PURPOSE)


def seal_json(value: Any, context: bytes = b"") -> bytes:
    return values_keyring().seal(json.dumps(value, separators=(",", ":")).encode(), context)


def open_json(sealed: bytes, context: bytes = b"") -> Any:
    """Raises: SealError (see Keyring.open)."""
    return json.loads(values_keyring().open(sealed, context))
