"""The safe JSON Schema evaluation (omni/security/schemas.py): RE2 semantics, budgets, and schemas
that were fine before still validate exactly as before."""

from __future__ import annotations

import jsonschema
import pytest
import referencing

from omni.security import schemas
from omni.security.schemas import SchemaBudget, SchemaBudgetExceeded, SchemaProblem, UnsupportedPattern

CATASTROPHIC = {"type": "string", "pattern": "^(a+)+$"}
EVIL_INPUT = "a" * 28 + "!"  # seconds on Python's re (doubling per character); one pass on RE2


def messages(schema, instance, **kwargs) -> list[str]:
    validator = schemas.build_validator(schema, **kwargs)
    errors = schemas.collect_errors(validator, instance)
    return sorted(e.message for e in errors)


def bomb(levels: int, keyword: str = "anyOf") -> dict:
    """A ~1 KB schema whose evaluation doubles per level (the amplification of issue 7)."""
    defs = {"d0": {"type": "integer"}}
    for level in range(1, levels + 1):
        below = {"$ref": f"#/$defs/d{level - 1}"}
        defs[f"d{level}"] = {keyword: [below, below]}
    return {"$defs": defs, "$ref": f"#/$defs/d{levels}"}


# --------------------------------------------------------------------------- RE2
def test_the_catastrophic_pattern_is_answered_by_re2():
    assert messages(CATASTROPHIC, EVIL_INPUT) == [f"{EVIL_INPUT!r} does not match '^(a+)+$'"]
    assert messages(CATASTROPHIC, "a" * 100_000) == []
    # the same pattern everywhere jsonschema uses a regex: property names, additionalProperties,
    # unevaluatedProperties, propertyNames
    evil_key = {"a" * 40 + "!": 1}
    assert messages({"patternProperties": {"^(a+)+$": {"type": "string"}}}, evil_key) == []
    assert messages({"patternProperties": {"^(a+)+$": True}, "additionalProperties": False}, evil_key) == [
        f"{'a' * 40 + '!'!r} does not match any of the regexes: '^(a+)+$'"
    ]
    assert messages({"patternProperties": {"^(a+)+$": True}, "unevaluatedProperties": False}, evil_key) == [
        f"Unevaluated properties are not allowed ({'a' * 40 + '!'!r} was unexpected)"
    ]
    assert len(messages({"propertyNames": CATASTROPHIC}, evil_key)) == 1


def test_a_subschema_naming_another_draft_stays_on_re2():
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "properties": {"s": {"$schema": "https://json-schema.org/draft/2020-12/schema", **CATASTROPHIC}},
    }
    assert len(messages(schema, {"s": "a" * 60 + "!"})) == 1


@pytest.mark.parametrize("pattern", [r"(?=a)a", r"(?<!x)y", r"(a)\1", "a{1000}{1000}", "(unclosed"])
def test_a_pattern_re2_refuses_is_a_clear_error_not_a_fallback(pattern):
    with pytest.raises(UnsupportedPattern, match="RE2"):
        messages({"type": "string", "pattern": pattern}, "a")
    with pytest.raises(UnsupportedPattern, match="RE2"):
        schemas.check_schema({"type": "string", "pattern": pattern})
    with pytest.raises(UnsupportedPattern):
        messages({"patternProperties": {pattern: True}}, {"a": 1})


def test_re2_classes_are_ascii_like_ecma_262():
    assert messages({"pattern": r"^\d+$"}, "123") == []
    assert len(messages({"pattern": r"^\d+$"}, "١٢٣")) == 1  # Arabic-Indic digits: not \d in ECMA-262
    assert messages({"pattern": "^é+$"}, "éé") == []  # literal non-ASCII text matches
    assert messages({"pattern": "b"}, "abc") == []  # pattern is a search, not anchored


def test_format_regex_is_checked_by_re2():
    assert messages({"format": "regex"}, "^[a-z]+$", formats=True) == []
    assert messages({"format": "regex"}, "(?<=x)y", formats=True) == ["'(?<=x)y' is not a 'regex'"]
    assert messages({"format": "regex"}, "(?<=x)y") == []  # formats are annotations unless asserted


# --------------------------------------------------------------------------- budget
@pytest.mark.parametrize("keyword", ["anyOf", "allOf", "oneOf"])
def test_the_amplification_bomb_stops_with_a_clear_error(keyword):
    validator = schemas.build_validator(bomb(30, keyword))
    with pytest.raises(SchemaBudgetExceeded) as caught:
        schemas.collect_errors(validator, "not an integer")
    assert caught.value.setting in {"SCHEMA_MAX_STEPS", "SCHEMA_MAX_REFS", "SCHEMA_MAX_ERRORS"}
    assert "schema evaluation stopped" in str(caught.value)


def test_each_limit_is_named():
    validator = schemas.build_validator(bomb(12, "allOf"))
    # allOf of valid branches: work without errors, stopped by the step or the ref limit
    with pytest.raises(SchemaBudgetExceeded, match="SCHEMA_MAX_STEPS"):
        schemas.collect_errors(validator, 1, SchemaBudget(max_steps=500, max_refs=10**6, max_errors=10**6))
    with pytest.raises(SchemaBudgetExceeded, match="SCHEMA_MAX_REFS"):
        schemas.collect_errors(validator, 1, SchemaBudget(max_steps=10**6, max_refs=100, max_errors=10**6))
    errors = schemas.build_validator(bomb(12, "anyOf"))
    with pytest.raises(SchemaBudgetExceeded, match="SCHEMA_MAX_ERRORS"):
        schemas.collect_errors(errors, "x", SchemaBudget(max_steps=10**6, max_refs=10**6, max_errors=100))


def test_a_small_bomb_within_budget_still_answers():
    validator = schemas.build_validator(bomb(4))
    assert schemas.collect_errors(validator, 3) == []
    assert schemas.work_of(validator, 3)["refs"] == 5  # the root $ref, then the first branch of each anyOf
    assert len(schemas.collect_errors(validator, "x")) == 1


def test_self_reference_and_remote_refs_are_clear_errors():
    with pytest.raises(SchemaProblem, match="nested too deeply|\\$ref follows"):
        schemas.collect_errors(schemas.build_validator({"$ref": "#"}), 1)
    with pytest.raises(SchemaProblem, match="remote references are not fetched"):
        schemas.collect_errors(schemas.build_validator({"$ref": "http://127.0.0.1:9/s.json"}), 1)


def test_draft_3_is_refused():
    with pytest.raises(SchemaProblem, match="not supported"):
        schemas.build_validator({"$schema": "http://json-schema.org/draft-03/schema#"})


# --------------------------------------------------------------------------- same answers as before
NORMAL_SCHEMA = {
    "type": "object",
    "required": ["name", "tags", "price"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1, "pattern": "^[A-Za-z][A-Za-z0-9 _-]*$"},
        "price": {"type": "number", "minimum": 0, "exclusiveMaximum": 1000},
        "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}, "uniqueItems": True, "maxItems": 3},
        "kind": {"enum": ["a", "b"]},
        "meta": {
            "type": "object",
            "patternProperties": {"^x-[a-z]+$": {"type": "string"}},
            "propertyNames": {"pattern": "^x-"},
        },
        "either": {"oneOf": [{"type": "integer"}, {"type": "string", "format": "regex"}]},
    },
    "$defs": {"tag": {"type": "string", "pattern": "^[a-z0-9-]{1,20}$"}},
}
INSTANCES = [
    {"name": "Pen", "price": 2, "tags": ["office"]},
    {"name": "9pen", "price": -1, "tags": ["Office", "office", "a", "b"], "extra": 1},
    {"name": "", "tags": "x", "kind": "c", "meta": {"x-ok": "1", "x-BAD": 2, "nope": "s"}},
    {"name": "ok", "price": 1000, "tags": [], "either": 1.5},
    {"name": "ok", "price": 1, "tags": [], "either": "[a-"},
    [],
    "text",
]


@pytest.mark.parametrize("instance", INSTANCES)
@pytest.mark.parametrize("formats", [False, True])
def test_a_normal_schema_validates_exactly_as_before(instance, formats):
    stock = jsonschema.Draft202012Validator(
        NORMAL_SCHEMA,
        registry=referencing.Registry(),
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER if formats else None,
    )

    def key(error: jsonschema.ValidationError) -> tuple:
        return (list(map(str, error.absolute_path)), list(map(str, error.schema_path)), error.message)

    expected = sorted(map(key, stock.iter_errors(instance)))
    actual = sorted(
        map(key, schemas.collect_errors(schemas.build_validator(NORMAL_SCHEMA, formats=formats), instance))
    )
    assert actual == expected


@pytest.mark.parametrize(
    "draft",
    [
        jsonschema.Draft4Validator,
        jsonschema.Draft6Validator,
        jsonschema.Draft7Validator,
        jsonschema.Draft201909Validator,
    ],
)
def test_older_drafts_keep_their_semantics(draft):
    schema = {"$schema": draft.META_SCHEMA["$schema"], "properties": {"n": {"type": "integer", "maximum": 3}}}
    expected = sorted(e.message for e in draft(schema).iter_errors({"n": 5}))
    assert messages(schema, {"n": 5}) == expected == ["5 is greater than the maximum of 3"]


def test_check_schema_still_reports_invalid_schemas():
    with pytest.raises(jsonschema.SchemaError):
        schemas.check_schema({"type": "no-such-type"})
    schemas.check_schema(NORMAL_SCHEMA)
