"""Expectations: every check passes on a matching result and fails, with a message, on another."""

from __future__ import annotations

import pytest

from omni.playground.scenario_expect import check_path, check_schema, evaluate, json_equal

RESULT = {
    "structuredContent": {"id": "abc-123", "n": 6, "r": 0.9965, "tags": ["x", "y"], "ok": True, "none": None},
    "content": [{"type": "text", "text": "note not found: 42"}],
    "isError": False,
}


@pytest.mark.parametrize(
    ("spec", "passes"),
    [
        ({"path": "$.structuredContent.id", "exists": True}, True),
        ({"path": "$.structuredContent.nope", "exists": True}, False),
        ({"path": "$.structuredContent.nope", "exists": False}, True),
        ({"path": "$.structuredContent.none", "exists": True}, True),
        ({"path": "$.structuredContent.n", "equals": 6}, True),
        ({"path": "$.structuredContent.n", "equals": 6.0}, True),
        ({"path": "$.structuredContent.n", "equals": "6"}, False),
        ({"path": "$.structuredContent.ok", "equals": 1}, False),
        ({"path": "$.structuredContent.ok", "equals": True}, True),
        ({"path": "$.structuredContent.tags", "equals": ["x", "y"]}, True),
        ({"path": "$.structuredContent.tags", "contains": "y"}, True),
        ({"path": "$.structuredContent.tags", "contains": "z"}, False),
        ({"path": "$.structuredContent", "contains": {"n": 6}}, True),
        ({"path": "$.structuredContent", "contains": {"n": 7}}, False),
        ({"path": "$.content[0].text", "contains": "not found"}, True),
        ({"path": "$.content[*].type", "contains": "text"}, True),
        ({"path": "$.structuredContent.id", "matches": "^[a-z]+-\\d+$"}, True),
        ({"path": "$.structuredContent.id", "matches": "^\\d+$"}, False),
        ({"path": "$.structuredContent.n", "matches": "6"}, False),
        ({"path": "$.structuredContent.r", "approx": 0.9966, "tolerance": 0.001}, True),
        ({"path": "$.structuredContent.r", "approx": 0.99}, False),
        ({"path": "$.structuredContent.id", "approx": 1}, False),
        ({"path": "$.structuredContent.tags", "length": 2}, True),
        ({"path": "$.structuredContent.tags", "length": 3}, False),
        ({"path": "$.structuredContent.n", "length": 1}, False),
        ({"path": "$.structuredContent.n", "type": "integer"}, True),
        ({"path": "$.structuredContent.n", "type": "number"}, True),
        ({"path": "$.structuredContent.r", "type": "integer"}, False),
        ({"path": "$.structuredContent.none", "type": "null"}, True),
        ({"path": "$.structuredContent.missing", "equals": None}, False),
    ],
)
def test_checks(spec, passes):
    check = check_path(spec, RESULT)
    assert check.passed is passes, check
    assert check.message


def test_failure_messages_say_what_differs():
    check = check_path({"path": "$.structuredContent.n", "equals": 7}, RESULT)
    assert check.message == "expected 7, got 6"
    check = check_path({"path": "$.structuredContent.missing", "equals": 1}, RESULT)
    assert check.message == "no value at $.structuredContent.missing"


def test_a_catastrophic_regex_runs_on_re2():
    # On a backtracking engine this is exponential; RE2 answers in linear time, correctly.
    check = check_path({"path": "$.s", "matches": r"^(a|aa)+$"}, {"s": "a" * 5000 + "b"})
    assert check.passed is False and "expected text matching" in check.message
    assert check_path({"path": "$.s", "matches": r"^(a|aa)+$"}, {"s": "a" * 5000}).passed
    # Look-around is refused with a clear message, never run on another engine.
    refused = check_path({"path": "$.s", "matches": r"(?=a)a"}, {"s": "a"})
    assert refused.passed is False and "RE2" in refused.message


def test_a_schema_bomb_in_an_expectation_stops_with_the_budget():
    defs = {"d0": {"type": "integer"}}
    for level in range(1, 40):
        defs[f"d{level}"] = {"anyOf": [{"$ref": f"#/$defs/d{level - 1}"}, {"$ref": f"#/$defs/d{level - 1}"}]}
    check = check_schema({"$ref": "#/$defs/d39", "$defs": defs}, "not a number")
    assert check.passed is False and "SCHEMA_MAX_" in check.message


def test_schema_check():
    schema = {
        "type": "object",
        "required": ["structuredContent"],
        "properties": {"isError": {"const": False}},
    }
    assert check_schema(schema, RESULT).passed
    failed = check_schema(
        {"properties": {"structuredContent": {"properties": {"n": {"type": "string"}}}}}, RESULT
    )
    assert not failed.passed
    assert failed.message.startswith("$.structuredContent.n: 6 is not of type 'string'")


def test_evaluate_checks_status_then_the_rest():
    checks = evaluate({"status": "error", "jsonpath": [{"path": "$.isError", "equals": False}]}, "ok", RESULT)
    assert [(c.kind, c.passed) for c in checks] == [("status", False), ("equals", True)]
    assert checks[0].message == "expected status error, got ok"
    assert [c.passed for c in evaluate({}, "ok", RESULT)] == [True]


def test_json_equal():
    assert json_equal({"a": [1, 2.0]}, {"a": [1.0, 2]})
    assert not json_equal(True, 1)
    assert not json_equal({"a": 1}, {"a": 1, "b": 2})
    assert not json_equal("1", 1)
