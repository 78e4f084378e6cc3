"""Tool-call arguments in the audit log: masked, then sealed with the organization's data key.

Registered with ``omni.audit.sealing`` when the privacy app starts (audit cannot import privacy).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from omni.privacy.crypto import envelope, keys
from omni.privacy.crypto.errors import DataKeyDestroyed, DecryptionError
from omni.privacy.crypto.redaction import redact_for

PENDING = "_omni_seal_pending"


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def seal_arguments(arguments: Any, organization: Any) -> Any:
    """Masked, then sealed with the organization's key. On an event loop (the gateway spools events
    there) the key table may not be queried: with the key in this process's cache the arguments
    are sealed at once, otherwise they travel masked and marked, and ``finish_arguments`` seals
    them in the writer before the chain hashes them."""
    masked = redact_for(organization, arguments)
    if organization is None:
        return masked
    plaintext = json.dumps(masked, ensure_ascii=False).encode()
    if _on_event_loop():
        cached = keys.cached_live_key(organization.pk)
        if cached is None:
            return {PENDING: organization.pk, "value": masked}
        return envelope.seal_with(*cached, plaintext)
    return envelope.seal(plaintext, organization.pk)


def finish_arguments(value: Any) -> Any:
    if isinstance(value, dict) and PENDING in value and set(value) == {PENDING, "value"}:
        org_id = value[PENDING]
        return envelope.seal(json.dumps(value["value"], ensure_ascii=False).encode(), org_id)
    return value


def open_arguments(value: Any) -> Any:
    """A sealed value decrypted for the viewer; "[erased]" or a clear error text otherwise."""
    if not envelope.is_sealed(value):
        return value
    try:
        return json.loads(envelope.open_token(value))
    except DataKeyDestroyed:
        return "[erased]"
    except DecryptionError as error:
        return f"[cannot be decrypted: {error}]"
