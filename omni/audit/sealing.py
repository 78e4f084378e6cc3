"""How tool-call arguments are stored and shown, as set by a higher app (privacy).

Audit sits below privacy, so it does not import it: ``omni.privacy`` registers, when it starts,
a *sealer* (arguments, organization -> what is stored: masked and encrypted) and an *opener*
(a stored value -> what the viewer shows). Without registrations arguments are stored as given.
The hash chain covers the stored (sealed) form, so ``verify_audit`` needs no key and still
passes after an organization's key is destroyed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

_sealers: list[Callable[[Any, Any], Any]] = []
_openers: list[Callable[[Any], Any]] = []
_finishers: list[Callable[[Any], Any]] = []


def register(
    *,
    sealer: Callable[[Any, Any], Any],
    opener: Callable[[Any], Any],
    finisher: Callable[[Any], Any] | None = None,
) -> None:
    """``finisher`` completes, in the writer (sync, database allowed), what a sealer had to leave
    pending because it ran on an event loop (where the key table may not be queried)."""
    if sealer not in _sealers:
        _sealers.append(sealer)
    if opener not in _openers:
        _openers.append(opener)
    if finisher is not None and finisher not in _finishers:
        _finishers.append(finisher)


def finish(values: dict[str, Any]) -> dict[str, Any]:
    """The event's values with pending arguments sealed (called just before the chain hashes them)."""
    data = values.get("data")
    if not _finishers or not isinstance(data, dict) or "arguments" not in data:
        return values
    arguments = data["arguments"]
    for finisher in _finishers:
        try:
            arguments = finisher(arguments)
        except Exception:
            logger.exception("tool-call arguments could not be sealed: not stored")
            arguments = {"_dropped": "could not be encrypted"}
            break
    return {**values, "data": {**data, "arguments": arguments}}


def seal_arguments(arguments: Any, organization: Any) -> Any:
    """The stored form of ``arguments``; a sealer that fails drops them (logged), never the event."""
    for sealer in _sealers:
        try:
            arguments = sealer(arguments, organization)
        except Exception:
            logger.exception("tool-call arguments could not be sealed: not stored")
            return {"_dropped": "could not be encrypted"}
    return arguments


def open_value(value: Any) -> Any:
    """What the viewer shows for a stored value (openers turn sealed values back into data)."""
    for opener in _openers:
        value = opener(value)
    return value
