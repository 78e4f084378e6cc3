"""The refusal every entry point of a load run raises (bounds, targets, profiles, permissions)."""

from __future__ import annotations


class RunRefused(Exception):
    """A run that may not start; ``str()`` (and ``messages``) are safe to show to whoever asked."""

    def __init__(self, message: str, messages: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.messages = messages or [message]
