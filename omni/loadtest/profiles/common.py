"""What the parts of profile parsing share."""

from __future__ import annotations

from typing import Any

from omni.loadtest.profiles.source import Problems
from omni.loadtest.profiles.values import ValueProblem, parse_duration


def duration_at(data: dict[str, Any], key: str, path: list[Any], problems: Problems, default: float) -> float:
    """Seconds of ``data[key]`` (``default`` when absent or invalid: the problem is recorded)."""
    if key not in data:
        return default
    try:
        return parse_duration(data[key])
    except ValueProblem as exc:
        problems.add([*path, key], str(exc))
        return default
