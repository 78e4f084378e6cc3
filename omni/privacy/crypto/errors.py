"""The loud errors of encryption at rest: never ciphertext shown as data."""

from __future__ import annotations


class DecryptionError(Exception):
    """A stored value cannot be decrypted (wrong or missing master key, unknown key, tampering)."""

    status = 500
    label = "cannot be decrypted"


class MasterKeyError(DecryptionError):
    """No configured master key unwraps a data key (wrong ``PRIVACY_MASTER_KEYS``, or the key that
    wrapped it was retired too early)."""


class DataKeyDestroyed(DecryptionError):
    """The data key was destroyed (crypto-shredding): the value is erased for good."""

    status = 410
    label = "[erased]"
