"""Scenario files: every shipped file is valid; bad files are refused with the line and field."""

from __future__ import annotations

import textwrap

import pytest

from omni.playground.scenario_library import SHIPPED_DIR, shipped_files
from omni.playground.scenario_spec import ScenarioError, coerce_variable, load_scenario, load_scenario_file

SHIPPED = ("analytics_pipeline", "notes_crud", "prompts_and_resources", "utilities_smoke")


def errors_of(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load_scenario(textwrap.dedent(text))
    return info.value.errors


def test_the_shipped_scenarios_are_there_and_valid():
    assert set(SHIPPED) <= set(shipped_files())
    for name, path in shipped_files().items():
        scenario = load_scenario_file(path)
        assert scenario.name == name, f"{path}: name must match the file name"
        assert scenario.steps and scenario.description
    assert SHIPPED_DIR.name == "scenarios"


def test_a_minimal_scenario_loads_with_defaults():
    scenario = load_scenario(
        textwrap.dedent(
            """
            name: tiny
            variables:
              a: 1
              b: {default: text, description: the b}
            steps:
              - name: first
                operation: tools/list
            """
        )
    )
    assert scenario.variables == {"a": 1, "b": "text"}
    assert scenario.variable_help == {"b": "the b"}
    assert scenario.stop_on_failure is True
    step = scenario.steps[0]
    assert (step.operation, step.params, step.expect, step.save, step.expected_status) == (
        "tools/list",
        {},
        {},
        {},
        "ok",
    )


def test_schema_errors_name_the_line_and_the_field():
    errors = errors_of(
        """\
        name: Not A Slug
        steps:
          - name: call
            operation: tools/call
            params: {arguments: {}}
          - name: other
            operation: tools/frobnicate
            surprise: 1
        """
    )
    assert "line 1, name: 'Not A Slug' does not match '^[a-z][a-z0-9_]{0,62}$'" in errors
    assert "line 5, steps[0].params: 'name' is a required property" in errors
    assert any(e.startswith("line 7, steps[1].operation: 'tools/frobnicate' is not one of") for e in errors)
    assert any(
        e.startswith("line 6, steps[1]: Additional properties are not allowed ('surprise'") for e in errors
    )


def test_semantic_errors_name_the_line_and_the_field():
    errors = errors_of(
        """\
        name: semantic
        variables: {known: 1}
        steps:
          - name: first
            operation: tools/call
            params: {name: "x__{{ unknown }}", arguments: {n: "{{ known }}"}}
            expect:
              jsonpath:
                - path: structuredContent.id
                  equals: 1
                - path: $.a
                  equals: 1
                  exists: true
                - path: $.b
                  matches: "(unclosed"
              schema: {type: 12}
            save: {later: "$.["}
          - name: first
            operation: prompts/get
            params: {name: "{{ later }}{{ steps.first.result.x }}", arguments: {a: "{{ 1 + 1 }}"}}
        """
    )
    assert "line 6, steps[0].params: {{ unknown }} uses 'unknown', which is not a variable yet" in errors
    assert any(
        e.startswith("line 9, steps[0].expect.jsonpath[0].path: 'structuredContent.id': a path starts with $")
        for e in errors
    )
    assert any(e.startswith("line 11, steps[0].expect.jsonpath[1]: give exactly one check") for e in errors)
    assert any(
        e.startswith("line 15, steps[0].expect.jsonpath[2].matches: not a regular expression") for e in errors
    )
    assert any(e.startswith("line 16, steps[0].expect.schema: not a valid JSON Schema") for e in errors)
    assert any(e.startswith("line 17, steps[0].save.later:") for e in errors)
    assert "line 18, steps[1].name: another step is already called 'first'" in errors
    assert any(e.startswith("line 20, steps[1].params: {{ 1 + 1 }} is not a reference") for e in errors)
    # A variable saved by an earlier step, and the steps.* namespace, are known names.
    assert not any("'later', which is not a variable" in e for e in errors)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\nsteps: [\n", "line 3, column 1: YAML syntax error"),
        ("a: &anchor 1\nb: *anchor\n", "line 1: anchors and aliases (&name, *name) are not allowed"),
        ("name: a\nname: b\nsteps: []\n", "line 2: the key 'name' appears twice in one mapping"),
        ("", "the file is empty"),
        ("- just\n- a list\n", "line 1, (top level): ['just', 'a list'] is not of type 'object'"),
        ("name: x\nsteps: []\n", "line 2, steps: [] should be non-empty"),
        ("[" * 5000 + "]" * 5000, "nested too deeply"),
        (b"\xff\xfe", "the file is not UTF-8 text"),
        (
            "name: x\nsteps:\n  - name: a\n    operation: tools/list\n    params: {cursor: 5}\n",
            "line 5, steps[0].params.cursor: 5 is not of type 'string'",
        ),
        (
            "name: x\nsteps:\n  - name: a\n    operation: ping\n    params: {x: 1}\n",
            "line 5, steps[0].params",
        ),
    ],
)
def test_invalid_files(text, expected):
    with pytest.raises(ScenarioError) as info:
        load_scenario(text)
    assert any(expected in error for error in info.value.errors), info.value.errors


def test_yaml_is_loaded_safely(tmp_path):
    """Python tags are not constructed (safe_load): no object, no code."""
    marker = tmp_path / "pwned"
    errors = errors_of(
        f"""\
        name: !!python/object/apply:os.system ["touch {marker}"]
        steps: [{{name: a, operation: ping}}]
        """
    )
    assert any("could not determine a constructor" in e or "YAML" in e for e in errors)
    assert not marker.exists()


def test_too_large_files_are_refused():
    with pytest.raises(ScenarioError, match="larger than"):
        load_scenario("# " + "x" * 300_000)


def test_unreadable_file(tmp_path):
    with pytest.raises(ScenarioError, match="cannot read the file"):
        load_scenario_file(tmp_path / "missing.yaml")


def test_coerce_variable():
    assert coerce_variable(1, "42") == 42
    assert coerce_variable(1.5, "2") == 2.0
    assert coerce_variable(True, "no") is False
    assert coerce_variable("text", "7") == "7"
    assert coerce_variable(None, "7") == "7"
    with pytest.raises(ValueError, match="not an integer"):
        coerce_variable(1, "many")
    with pytest.raises(ValueError, match="not a boolean"):
        coerce_variable(False, "maybe")
