"""Sealing values with a data key: AES-256-GCM with a self-describing header.

A sealed value is text: ``omnienc:1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>``. The header
(version and key id) is the associated data, so it cannot be swapped without failing the tag, and
a value decrypts without knowing which row, table or organization it came from.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from omni.privacy.crypto import keys
from omni.privacy.crypto.errors import DecryptionError

PREFIX = "omnienc:"
VERSION = "1"


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def seal(plaintext: bytes, org_id: int | None) -> str:
    """Encrypt ``plaintext`` with the live data key of ``org_id`` (``None``: the platform key)."""
    key_id, raw = keys.live_key(org_id)
    return seal_with(key_id, raw, plaintext)


def seal_with(key_id: str, raw: bytes, plaintext: bytes) -> str:
    """Encrypt ``plaintext`` with a given data key (``keys.cached_live_key`` on the event loop)."""
    header = f"{PREFIX}{VERSION}:{key_id}:"
    nonce = os.urandom(keys.NONCE_BYTES)
    body = nonce + AESGCM(raw).encrypt(nonce, plaintext, header.encode())
    return header + base64.urlsafe_b64encode(body).decode().rstrip("=")


def key_id_of(token: str) -> str:
    return _parse(token)[1]


def _parse(token: str) -> tuple[str, str, bytes]:
    parts = token.split(":", 3)
    if len(parts) != 4 or parts[0] + ":" != PREFIX or parts[1] != VERSION or not parts[2]:
        raise DecryptionError("stored value is not a sealed value of a known version")
    try:
        body = base64.urlsafe_b64decode(parts[3] + "=" * (-len(parts[3]) % 4))
    except (binascii.Error, ValueError):
        raise DecryptionError(f"sealed value of key {parts[2]} is not valid base64") from None
    return f"{parts[0]}:{parts[1]}:{parts[2]}:", parts[2], body


def open_token(token: str) -> bytes:
    """Decrypt a sealed value; raises ``DecryptionError`` (or ``DataKeyDestroyed``), never returns junk."""
    header, key_id, body = _parse(token)
    raw = keys.key_by_id(key_id)
    try:
        return AESGCM(raw).decrypt(body[: keys.NONCE_BYTES], body[keys.NONCE_BYTES :], header.encode())
    except InvalidTag:
        raise DecryptionError(
            f"sealed value of key {key_id} failed authentication (corrupted or tampered)"
        ) from None
