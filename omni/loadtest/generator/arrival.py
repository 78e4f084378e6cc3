"""The open model's request rate over time (``contracts.Arrival``), in requests per second at
``t`` seconds after the measured window started (warm-up, ``t < 0``, runs at the rate of t=0)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class ArrivalError(ValueError):
    pass


def rate_function(arrival: dict[str, Any], duration_s: float) -> Callable[[float], float]:
    shape = arrival.get("shape", "constant")
    rate = float(arrival.get("rate", 0.0))
    if rate < 0:
        raise ArrivalError("rate must not be negative")
    if shape == "constant":
        return lambda t: rate
    if shape == "ramp":
        rate_to = float(arrival.get("rate_to", rate))
        span = max(duration_s, 1e-9)

        def ramp(t: float) -> float:
            x = min(max(t / span, 0.0), 1.0)
            return rate + (rate_to - rate) * x

        return ramp
    if shape == "step":
        steps = sorted((float(at), float(r)) for at, r in (arrival.get("steps") or []))
        if not steps:
            raise ArrivalError("a step shape needs steps: [[seconds_from_start, rate], ...]")

        def step(t: float) -> float:
            current = rate
            for at, r in steps:
                if t >= at:
                    current = r
                else:
                    break
            return current

        return step
    if shape == "spike":
        spike_rate = float(arrival.get("spike_rate", rate))
        at = float(arrival.get("spike_at_s", 0.0))
        length = float(arrival.get("spike_for_s", 0.0))
        return lambda t: spike_rate if at <= t < at + length else rate
    raise ArrivalError(f"unknown arrival shape {shape!r}")


def max_rate(arrival: dict[str, Any]) -> float:
    """The highest rate the shape reaches (sizes the connection pool)."""
    rates = [float(arrival.get("rate", 0.0))]
    rates += [float(arrival.get(k, 0.0)) for k in ("rate_to", "spike_rate")]
    rates += [float(r) for _, r in (arrival.get("steps") or [])]
    return max(rates)
