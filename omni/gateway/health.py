"""Which downstream servers this process knows to be down, and since when.

A server is *down* after a transport failure (connection refused or reset, its session or process
gone) or a failed listing (including one that timed out: a black-holed server), and *up* again as
soon as it answers anything. Process-local: each process learns it from its own traffic. The
catalogue withholds the tools, prompts and resources of a down server at once (without waiting
for the listing TTL) and retries it in the background (``catalogue._probe``). ``generation`` moves
on every change, so cached views know when to look again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

_down: dict[str, tuple[float, str, str]] = {}  # target key -> (since, server name, reason)
generation = 0
# Called with the target that just went down (the catalogue schedules its retries).
on_down: list[Callable[[Any], None]] = []


def failed(target: Any, reason: str) -> None:
    """``target`` failed at the transport level or could not be listed."""
    global generation
    if target.key in _down:
        return
    _down[target.key] = (time.monotonic(), target.name, reason[:300])
    generation += 1
    logger.warning("downstream server %s is down: %s", target.name, reason[:300])
    for listener in list(on_down):
        try:
            listener(target)
        except Exception:  # a listener must never break the call that noticed the failure
            logger.exception("health listener failed for %s", target.name)


def answered(target: Any) -> None:
    """``target`` answered: it is up."""
    global generation
    if _down.pop(target.key, None) is not None:
        generation += 1
        logger.warning("downstream server %s answers again", target.name)


def is_down(key: str) -> bool:
    return key in _down


def reason(key: str) -> str | None:
    entry = _down.get(key)
    return entry[2] if entry is not None else None


def reset() -> None:
    """Forget everything (tests)."""
    global generation
    _down.clear()
    generation += 1
