"""omni.security.limits: what the gateway checks before it forwards MCP input."""

from __future__ import annotations

import pytest

from omni.security.limits import check_json_limits, check_uri


def nested(depth: int, leaf=1):
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def test_values_within_limits_pass():
    assert check_json_limits({"a": [1, 2.5, "x", None, True], "b": {"c": {}}}) is None
    assert check_json_limits("scalar") is None
    assert check_json_limits(nested(32)) is None


def test_depth_is_counted_in_containers():
    assert check_json_limits({"a": [1]}, max_depth=2) is None
    assert "nested more than 1 levels" in check_json_limits({"a": [1]}, max_depth=1)
    assert "nested more than 32" in check_json_limits(nested(33))
    mixed = {"a": {"b": [{"c": [[]]}]}}  # depth 6
    assert check_json_limits(mixed, max_depth=6) is None
    assert check_json_limits(mixed, max_depth=5) is not None


def test_huge_nesting_does_not_recurse():
    deep = nested(200_000)
    assert "nested more than 32" in check_json_limits(deep)


def test_item_count_covers_every_level():
    assert check_json_limits(list(range(10_000))) is None
    assert "more than 10000 items" in check_json_limits(list(range(10_001)))
    spread = [[0] * 60 for _ in range(60)]  # 60 + 3600 items
    assert check_json_limits(spread, max_items=3660) is None
    assert check_json_limits(spread, max_items=3659) is not None
    assert check_json_limits({str(i): i for i in range(11)}, max_items=10) is not None


def test_long_strings_and_keys_are_refused():
    assert check_json_limits("x" * 1_000_000) is None
    assert "longer than" in check_json_limits("x" * 1_000_001)
    assert "key is longer" in check_json_limits({"k" * 11: 1}, max_string_length=10)
    assert check_json_limits("x" * 5_000_000, max_string_length=None) is None


def test_non_json_values_are_refused():
    assert "not JSON" in check_json_limits({"a": {1, 2}})
    assert "not JSON" in check_json_limits([b"bytes"])
    assert "keys must be strings" in check_json_limits({1: "a"})


def test_negative_limits_are_a_bug():
    with pytest.raises(ValueError):
        check_json_limits({}, max_depth=-1)


@pytest.mark.parametrize("uri", ["memo://acme/readme", "file:///etc/x", "urn:isbn:123", "topics://a/summary"])
def test_good_uris(uri):
    assert check_uri(uri) is None


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        (None, "must be a string"),
        (42, "must be a string"),
        ("", "empty"),
        ("no-scheme", "scheme"),
        ("memo://a b", "scheme"),
        ("memo://a\nb", "scheme"),
        ("memo://\x00", "scheme"),
        ("1abc://x", "scheme"),
        ("memo://" + "a" * 3000, "longer than 2048"),
    ],
)
def test_bad_uris(uri, why):
    assert why in check_uri(uri)
