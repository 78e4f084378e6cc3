"""Argument templates: the scanner, the expressions, determinism, and errors before the run."""

from __future__ import annotations

import random

import pytest

from omni.loadtest.generator import TemplateError, validate_templates
from omni.loadtest.generator.templates import RenderContext, compile_value


def render(value, vu=0, seq=0, seed=1, variables=None, faker=None):
    ctx = RenderContext(vu=vu, seq=seq, rng=random.Random(seed), faker=faker, variables=variables or {})
    return compile_value(value, "x", tuple((variables or {}).keys()))(ctx)


def test_expressions_nested_and_typed():
    from faker import Faker

    value = {
        "user": "u{{ vu }}-{{seq}}",
        "n": "{{ random.int(3, 3) }}",
        "pick": "{{ random.choice(red, 'blue green', 7) }}",
        "list": ["{{ faker.word }}", {"id": "{{ faker.uuid4 }}"}, 5, None],
        "plain": "no template",
    }
    out = render(value, vu=4, seq=9, faker=Faker())
    assert out["user"] == "u4-9"
    assert out["n"] == 3  # a whole-string template keeps the type
    assert out["pick"] in ("red", "blue green", 7)
    assert isinstance(out["list"][0], str) and out["list"][0]
    assert len(out["list"][1]["id"]) == 36 and out["list"][2:] == [5, None]
    assert out["plain"] == "no template"
    assert render("n={{ random.int(5, 5) }}!") == "n=5!"  # inside a string: text


def test_same_seed_same_data_other_seed_other_data():
    from faker import Faker

    value = {"a": "{{ faker.name }}", "b": "{{ random.int(1, 1000000) }}", "c": "{{ faker.sentence }}"}
    faker = Faker()
    first = [render(value, seed=s, faker=faker) for s in range(5)]
    again = [render(value, seed=s, faker=faker) for s in range(5)]
    assert first == again
    assert len({str(x) for x in first}) == 5


@pytest.mark.parametrize(
    "bad",
    [
        "{{ os.system('x') }}",
        "{{ faker.password }}",
        "{{ random.int(5, 1) }}",
        "{{ random.int(1) }}",
        "{{ random.choice() }}",
        "{{ __import__ }}",
        "{{ vu ",
        "x }} y",
        "{{ random.choice('a, b) }}",
    ],
)
def test_unknown_or_malformed_expressions_fail_before_the_run(bad):
    spec = {
        "operations": [
            {"label": "a", "kind": "tools/call", "weight": 1, "name": "t", "arguments": {"k": bad}}
        ]
    }
    with pytest.raises(TemplateError) as caught:
        validate_templates(spec)
    assert "operations[0].arguments.k" in str(caught.value)


def test_scenario_variables_only_after_they_are_saved():
    step_use = {"operation": "tools/call", "params": {"name": "t", "arguments": {"y": "{{ v }}"}}}
    step_save = {"operation": "tools/call", "params": {"name": "t"}, "save": {"v": "$.structuredContent.x"}}
    ok = {"operations": [{"label": "s", "kind": "scenario", "weight": 1, "steps": [step_save, step_use]}]}
    validate_templates(ok)
    bad = {"operations": [{"label": "s", "kind": "scenario", "weight": 1, "steps": [step_use, step_save]}]}
    with pytest.raises(TemplateError, match=r"steps\[0\]"):
        validate_templates(bad)
    with pytest.raises(TemplateError, match="JSONPath"):
        validate_templates(
            {
                "operations": [
                    {
                        "label": "s",
                        "kind": "scenario",
                        "weight": 1,
                        "steps": [{**step_save, "save": {"v": "nope"}}],
                    }
                ]
            }
        )
    with pytest.raises(TemplateError, match="unknown operation kind"):
        validate_templates({"operations": [{"label": "s", "kind": "tools/delete", "weight": 1}]})
