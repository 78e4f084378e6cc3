"""The arrival model of a profile: closed (virtual users, think time) or open (a rate, shaped
constant, ramp, step or spike), checked and normalised (docs/loadtesting.md)."""

from __future__ import annotations

from typing import Any

from omni.loadtest.profiles.common import duration_at
from omni.loadtest.profiles.source import Problems

DEFAULT_MAX_IN_FLIGHT = 1000
_OPEN_KEYS = ("rate", "shape", "rate_to", "steps", "spike_rate", "spike_at", "spike_for", "max_in_flight")
_CLOSED_KEYS = ("users", "think")
_SHAPE_KEYS = {
    "constant": (),
    "ramp": ("rate_to",),
    "step": ("steps",),
    "spike": ("spike_rate", "spike_at", "spike_for"),
}


def parse_arrival(data: dict[str, Any], duration_s: float, problems: Problems) -> dict[str, Any]:
    """The normalised ``arrival`` of a profile (``contracts.Arrival``); problems are recorded."""
    raw = data["arrival"]
    path: list[Any] = ["arrival"]
    model = raw["model"]
    wrong = _OPEN_KEYS if model == "closed" else _CLOSED_KEYS
    for key in wrong:
        if key in raw:
            other = "open" if model == "closed" else "closed"
            problems.add([*path, key], f"{key} only goes with model: {other}")
    if model == "closed":
        if "users" not in raw:
            problems.add(path, "a closed model needs users (how many virtual users)")
        think_s = duration_at(raw, "think", path, problems, 0.0)
        return {"model": "closed", "users": int(raw.get("users", 1)), "think_ms": think_s * 1000.0}
    if "rate" not in raw:
        problems.add(path, "an open model needs rate (requests per second)")
    shape = raw.get("shape", "constant")
    arrival: dict[str, Any] = {
        "model": "open",
        "rate": float(raw.get("rate", 1.0)),
        "shape": shape,
        "max_in_flight": int(raw.get("max_in_flight", DEFAULT_MAX_IN_FLIGHT)),
    }
    for other, keys in _SHAPE_KEYS.items():
        for key in keys:
            if key in raw and other != shape:
                problems.add([*path, key], f"{key} only goes with shape: {other}")
    missing = [key for key in _SHAPE_KEYS[shape] if key not in raw]
    if missing:
        problems.add(path, f"shape {shape} needs {', '.join(missing)}")
        return arrival
    if shape == "ramp":
        arrival["rate_to"] = float(raw["rate_to"])
    elif shape == "step":
        arrival["steps"] = _steps(raw["steps"], duration_s, problems)
    elif shape == "spike":
        arrival["spike_rate"] = float(raw["spike_rate"])
        arrival["spike_at_s"] = duration_at(raw, "spike_at", path, problems, 0.0)
        arrival["spike_for_s"] = duration_at(raw, "spike_for", path, problems, 0.0)
        if arrival["spike_for_s"] <= 0:
            problems.add([*path, "spike_for"], "the spike must last more than 0 s")
        if arrival["spike_at_s"] + arrival["spike_for_s"] > duration_s:
            problems.add([*path, "spike_at"], f"the spike must end within the duration ({duration_s:g} s)")
    return arrival


def _steps(raw: list[dict[str, Any]], duration_s: float, problems: Problems) -> list[list[float]]:
    steps: list[list[float]] = []
    for index, step in enumerate(raw):
        at = duration_at(step, "at", ["arrival", "steps", index], problems, 0.0)
        if steps and at <= steps[-1][0]:
            problems.add(["arrival", "steps", index, "at"], "steps must be in increasing order of at")
        if at >= duration_s:
            problems.add(
                ["arrival", "steps", index, "at"], f"the step starts after the duration ({duration_s:g} s)"
            )
        steps.append([at, float(step["rate"])])
    return steps


def peak_rate(arrival: dict[str, Any]) -> float:
    """The highest request rate an open arrival model reaches (0 for a closed one)."""
    if arrival.get("model") != "open":
        return 0.0
    rates = [arrival.get("rate", 0.0), arrival.get("rate_to", 0.0), arrival.get("spike_rate", 0.0)]
    rates += [rate for _, rate in arrival.get("steps", [])]
    return float(max(rates))
