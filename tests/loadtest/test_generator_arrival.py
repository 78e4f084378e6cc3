"""The open model's rate shapes (pure functions of time)."""

from __future__ import annotations

import pytest

from omni.loadtest.generator.arrival import ArrivalError, max_rate, rate_function


def test_shapes():
    assert rate_function({"model": "open", "rate": 50}, 10)(3) == 50
    ramp = rate_function({"model": "open", "shape": "ramp", "rate": 10, "rate_to": 110}, 10)
    assert [ramp(t) for t in (-1, 0, 5, 10, 20)] == [10, 10, 60, 110, 110]
    step = rate_function({"model": "open", "shape": "step", "rate": 5, "steps": [[2, 20], [4, 40]]}, 10)
    assert [step(t) for t in (0, 1.9, 2, 3.9, 4, 9)] == [5, 5, 20, 20, 40, 40]
    spike = rate_function(
        {"model": "open", "shape": "spike", "rate": 10, "spike_rate": 100, "spike_at_s": 3, "spike_for_s": 2},
        10,
    )
    assert [spike(t) for t in (0, 2.9, 3, 4.9, 5)] == [10, 10, 100, 100, 10]
    assert max_rate({"rate": 10, "spike_rate": 100}) == 100
    assert max_rate({"rate": 5, "steps": [[2, 20], [4, 40]]}) == 40


def test_bad_shapes():
    with pytest.raises(ArrivalError):
        rate_function({"shape": "zigzag", "rate": 1}, 10)
    with pytest.raises(ArrivalError):
        rate_function({"shape": "step", "rate": 1}, 10)
    with pytest.raises(ArrivalError):
        rate_function({"rate": -1}, 10)
