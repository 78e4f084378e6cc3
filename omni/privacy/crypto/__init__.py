"""Envelope encryption at rest: per-organization data keys wrapped by the platform master keys.

* ``keys``      master keys from settings, wrapping, the bounded cache of unwrapped data keys,
                rotation (re-wrap) and crypto-shredding (destroy an organization's key).
* ``envelope``  ``seal``/``open_token``: AES-256-GCM with a self-describing header
                ``omnienc:1:<key id>:`` so a value decrypts without knowing its row.
* ``fields``    ``EncryptedTextField``/``EncryptedJSONField`` and the keyed-hash blind index.
* ``redaction`` masking of secrets (and, per organization, personal data) before payloads are stored.

This package imports nothing of the other ``omni`` apps at import time (only Django and
``cryptography``), so models of lower apps can use its field types; keys are found at run time
through ``django.apps``.
"""

from omni.privacy.crypto.errors import DataKeyDestroyed, DecryptionError, MasterKeyError

__all__ = ["DataKeyDestroyed", "DecryptionError", "MasterKeyError"]
