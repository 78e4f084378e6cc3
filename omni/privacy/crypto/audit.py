"""Tool-call arguments in the audit log: masked, then sealed with the organization's data key.

Registered with ``omni.audit.sealing`` when the privacy app starts (audit cannot import privacy).
"""

from __future__ import annotations

import json
from typing import Any

from omni.privacy.crypto import envelope
from omni.privacy.crypto.errors import DataKeyDestroyed, DecryptionError
from omni.privacy.crypto.redaction import redact_for


def seal_arguments(arguments: Any, organization: Any) -> Any:
    masked = redact_for(organization, arguments)
    if organization is None:
        return masked
    return envelope.seal(json.dumps(masked, ensure_ascii=False).encode(), organization.pk)


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
