"""Response validation: MCP result types per method and revision, and tools' outputSchema."""

from __future__ import annotations

from omni.playground.validation import is_valid, result_type_name, validate_result, validate_tool_output

SCHEMA = {
    "type": "object",
    "properties": {"id": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}},
    "required": ["id"],
}


def test_a_valid_result_passes():
    check = validate_result(
        "tools/list", "2025-11-25", {"tools": [{"name": "x", "inputSchema": {"type": "object"}}]}
    )
    assert check == {"checked": True, "valid": True, "type": "ListToolsResult", "errors": []}


def test_an_invalid_result_is_reported_with_where_and_why():
    check = validate_result("tools/list", "2025-11-25", {"tools": [{"name": 3}]})
    assert check["checked"] is True and check["valid"] is False
    assert any(error.startswith("tools.0.name:") for error in check["errors"])
    assert any(error.startswith("tools.0.inputSchema:") for error in check["errors"])


def test_the_revision_matters():
    # 2026-07-28 requires cache hints on list results; 2025-11-25 does not know them.
    bare = {"prompts": []}
    assert validate_result("prompts/list", "2025-11-25", bare)["valid"] is True
    modern = validate_result("prompts/list", "2026-07-28", bare)
    assert modern["valid"] is False and any("resultType" in e for e in modern["errors"])


def test_unknown_methods_are_not_checked():
    assert validate_result("vendor/thing", "2026-07-28", {"x": 1}) == {
        "checked": False,
        "valid": None,
        "type": None,
        "errors": [],
    }
    assert result_type_name("ping", "2026-07-28") is None  # ping was removed
    assert result_type_name("ping", "2025-06-18") == "Result"  # EmptyResult is an alias


def test_output_schema():
    ok = validate_tool_output(SCHEMA, {"content": [], "structuredContent": {"id": "a", "tags": ["x"]}})
    assert ok == {"checked": True, "valid": True, "errors": []}
    wrong = validate_tool_output(SCHEMA, {"content": [], "structuredContent": {"tags": ["x", 2]}})
    assert wrong["valid"] is False
    assert wrong["errors"] == ["(root): 'id' is a required property", "tags/1: 2 is not of type 'string'"]
    missing = validate_tool_output(SCHEMA, {"content": []})
    assert missing["valid"] is False and "no structuredContent" in missing["errors"][0]


def test_output_schema_not_checked_without_schema_or_on_tool_errors():
    assert validate_tool_output(None, {"content": []})["checked"] is False
    assert validate_tool_output(SCHEMA, {"content": [], "isError": True})["checked"] is False


def test_a_broken_output_schema_is_reported():
    bad = validate_tool_output({"type": "nonsense"}, {"structuredContent": {}})
    assert bad["valid"] is False and "outputSchema itself is invalid" in bad["errors"][0]
    dangling = validate_tool_output({"$ref": "#/$defs/missing"}, {"structuredContent": {}})
    assert dangling["valid"] is False and "cannot be resolved" in dangling["errors"][0]
    # A downstream server's catastrophic pattern is checked on RE2, and a bomb stops at the budget.
    evil = {"type": "object", "properties": {"w": {"type": "string", "pattern": "^(a+)+$"}}}
    slow_on_re = validate_tool_output(evil, {"structuredContent": {"w": "a" * 40 + "!"}})
    assert slow_on_re["valid"] is False and "does not match" in slow_on_re["errors"][0]
    unsupported = validate_tool_output(
        {"properties": {"w": {"pattern": "(?=a)"}}}, {"structuredContent": {"w": "a"}}
    )
    assert unsupported["valid"] is False and "RE2" in unsupported["errors"][0]


def test_is_valid_ignores_checks_that_did_not_run():
    assert is_valid({"schema": {"valid": True}, "output_schema": {"valid": None}})
    assert not is_valid({"schema": {"valid": True}, "output_schema": {"valid": False}})
    assert is_valid({})
