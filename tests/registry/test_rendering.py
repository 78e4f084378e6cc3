"""render_prompt, the safe {name} substitution and RFC 6570 URI templates (no database)."""

import pytest

from omni.registry.models import Prompt, ResourceTemplate
from omni.registry.services import (
    PromptArgumentError,
    find_resource_template,
    match_resource_template,
    render_prompt,
    render_resource_template,
)
from omni.registry.templating import (
    UriTemplateError,
    expand_uri,
    match_uri,
    placeholders,
    substitute,
    uri_variables,
)


def make_prompt(messages, arguments=None) -> Prompt:
    return Prompt(
        name="p",
        arguments=arguments
        if arguments is not None
        else [
            {"name": "code", "description": "", "required": True},
            {"name": "language", "description": "", "required": False},
        ],
        messages=messages,
    )


def test_render_fills_in_arguments_in_every_message():
    prompt = make_prompt(
        [
            {"role": "user", "content": "Review this {language} code:\n{code}"},
            {"role": "assistant", "content": "Reviewing {code}."},
        ]
    )
    assert render_prompt(prompt, {"code": "x = 1", "language": "Python"}) == [
        {"role": "user", "text": "Review this Python code:\nx = 1"},
        {"role": "assistant", "text": "Reviewing x = 1."},
    ]


def test_optional_argument_renders_empty():
    prompt = make_prompt([{"role": "user", "content": "[{language}] {code}"}])
    assert render_prompt(prompt, {"code": "c"}) == [{"role": "user", "text": "[] c"}]
    assert render_prompt(prompt, {"code": "c", "language": None}) == [{"role": "user", "text": "[] c"}]


def test_missing_required_argument_is_a_clear_error():
    prompt = make_prompt([{"role": "user", "content": "{code}"}])
    with pytest.raises(PromptArgumentError, match="needs the argument.*'code'"):
        render_prompt(prompt, {"language": "Go"})
    with pytest.raises(PromptArgumentError):
        render_prompt(prompt, None)
    assert issubclass(PromptArgumentError, ValueError)


def test_unknown_argument_is_a_clear_error():
    prompt = make_prompt([{"role": "user", "content": "{code}"}])
    with pytest.raises(PromptArgumentError, match=r"no argument\(s\) 'colour'.*allowed: code, language"):
        render_prompt(prompt, {"code": "x", "colour": "red"})


def test_attribute_and_index_access_are_not_evaluated():
    prompt = make_prompt(
        [{"role": "user", "content": "{code.__class__} {code[0]} {code!r} {code:>10} {0} {} {code}"}]
    )
    [message] = render_prompt(prompt, {"code": "abc"})
    assert message["text"] == "{code.__class__} {code[0]} {code!r} {code:>10} {0} {} abc"
    assert "str" not in message["text"]


def test_values_are_inserted_verbatim_and_not_rendered_again():
    prompt = make_prompt([{"role": "user", "content": "{code} / {language}"}])
    [message] = render_prompt(prompt, {"code": "{language}", "language": "{code.__init__}"})
    assert message["text"] == "{language} / {code.__init__}"


def test_escaped_braces_and_json_stay_literal():
    assert substitute('{{name}} {"a": 1} {name}', {"name": "x"}) == '{name} {"a": 1} x'
    assert substitute("{unknown}", {}) == "{unknown}"
    assert placeholders("{a} {b} {a} {{c}} {d.e}") == ["a", "b"]


def test_non_string_values():
    prompt = make_prompt([{"role": "user", "content": "{code}"}])
    assert render_prompt(prompt, {"code": 42}) == [{"role": "user", "text": "42"}]
    assert render_prompt(prompt, {"code": True}) == [{"role": "user", "text": "true"}]
    with pytest.raises(PromptArgumentError, match="must be a string"):
        render_prompt(prompt, {"code": {"nested": 1}})


# --------------------------------------------------------------------------- URI templates
@pytest.mark.parametrize(
    "template, uri, expected",
    [
        ("notes://{topic}/summary", "notes://python/summary", {"topic": "python"}),
        ("notes://{topic}/summary", "notes://a%20b/summary", {"topic": "a b"}),
        ("notes://{topic}/summary", "notes://a/b/summary", None),  # {var} never spans "/"
        ("notes://{topic}/summary", "notes:///summary", None),  # nor matches nothing
        ("notes://{topic}/summary", "notes://python/summary/extra", None),
        ("notes://{topic}/summary", "NOTES://python/summary", None),
        ("files://{+path}", "files://src/app/main.py", {"path": "src/app/main.py"}),
        ("files://{+path}/raw", "files://a/b/raw", {"path": "a/b"}),
        ("users://{org}/{user}", "users://acme/alice", {"org": "acme", "user": "alice"}),
        ("docs://page{#section}", "docs://page#intro", {"section": "intro"}),
        ("docs://page.{ext}", "docs://page.md", {"ext": "md"}),
        ("a+b://{x}?q=1", "a+b://y?q=1", {"x": "y"}),  # regex characters in the literal parts
        ("a+b://{x}?q=1", "aab://y?q=1", None),
    ],
)
def test_match_uri(template, uri, expected):
    assert match_uri(template, uri) == expected


def test_match_and_render_resource_template():
    template = ResourceTemplate(
        name="t", uri_template="notes://{topic}/summary", text_template="# {topic}\n{{topic}} {topic.x}"
    )
    variables = match_resource_template(template, "notes://django/summary")
    assert variables == {"topic": "django"}
    assert render_resource_template(template, variables) == "# django\n{topic} {topic.x}"
    assert match_resource_template(template, "notes://django") is None
    other = ResourceTemplate(name="o", uri_template="other://{x}", text_template="{x}")
    assert find_resource_template([other, template], "notes://a/summary") == (template, {"topic": "a"})
    assert find_resource_template([other, template], "nothing://here") is None


@pytest.mark.parametrize(
    "template",
    [
        "x://{a,b}",
        "x://{?q}",
        "x://{a:3}",
        "x://{a*}",
        "x://{a",
        "x://a}",
        "x://{}",
        "x://{a}/{a}",
        "x://{{a}",
    ],
)
def test_unsupported_uri_templates_are_rejected(template):
    with pytest.raises(UriTemplateError):
        uri_variables(template)


def test_expand_uri_round_trips():
    assert expand_uri("notes://{topic}/summary", {"topic": "a b/c"}) == "notes://a%20b%2Fc/summary"
    assert match_uri("notes://{topic}/summary", "notes://a%20b%2Fc/summary") == {"topic": "a b/c"}
    assert expand_uri("files://{+path}", {"path": "src/a b.py"}) == "files://src/a%20b.py"
    assert expand_uri("d://p{#s}", {"s": "x"}) == "d://p#x"
    assert expand_uri("d://p{#s}", {}) == "d://p"
