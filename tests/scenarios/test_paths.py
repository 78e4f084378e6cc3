"""JSONPath subset and {{ }} substitution: what they find, and that they never run code."""

from __future__ import annotations

import pytest

from omni.playground.scenario_paths import (
    PathError,
    SubstitutionError,
    find,
    parse_jsonpath,
    parse_reference,
    references,
    substitute,
)

DOC = {
    "structuredContent": {"id": "n1", "tags": ["a", "b"], "odd key": 3},
    "content": [{"type": "text", "text": "hello"}, {"type": "text", "text": "world"}],
    "rows": [{"region": "north"}, {"region": "south"}],
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", [DOC]),
        ("$.structuredContent.id", ["n1"]),
        ("$.structuredContent.tags[1]", ["b"]),
        ("$.structuredContent.tags[-1]", ["b"]),
        ("$.structuredContent['odd key']", [3]),
        ('$["structuredContent"]["id"]', ["n1"]),
        ("$.content[*].text", ["hello", "world"]),
        ("$.rows.*.region", ["north", "south"]),
        ("$.structuredContent.missing", []),
        ("$.content[5].text", []),
        ("$.structuredContent.id.deeper", []),
    ],
)
def test_find(path, expected):
    assert find(DOC, parse_jsonpath(path)) == expected


@pytest.mark.parametrize(
    "bad", ["structuredContent.id", "$.a[", "$..a", "$.a[?(@.x)]", "$.a()", "", "$.a b", 7, "$" + ".a" * 300]
)
def test_bad_jsonpaths_are_refused(bad):
    with pytest.raises(PathError):
        parse_jsonpath(bad)


def test_whole_reference_keeps_the_json_type():
    context = {"n": 5, "flag": True, "obj": {"k": [1, 2]}, "steps": {"a": {"result": DOC}}}
    assert substitute("{{ n }}", context) == 5
    assert substitute(" {{flag}} ", context) is True
    assert substitute("{{ obj }}", context) == {"k": [1, 2]}
    assert substitute("{{ steps.a.result.structuredContent.tags[0] }}", context) == "a"
    assert substitute("{{ steps.a.result.content[1]['text'] }}", context) == "world"


def test_references_inside_text_are_inserted_as_text():
    context = {"n": 5, "name": "Ann", "flag": False, "obj": {"k": 1}, "nothing": None}
    assert substitute("{{ name }} has {{ n }} ({{ flag }}) {{ obj }} {{ nothing }}", context) == (
        'Ann has 5 (false) {"k":1} null'
    )
    assert substitute({"key-{{ n }}": ["{{ name }}", 1, None]}, context) == {"key-5": ["Ann", 1, None]}


def test_a_missing_value_is_a_clear_error():
    with pytest.raises(SubstitutionError, match=r"there is no 'nope'"):
        substitute("{{ nope }}", {"a": 1})
    with pytest.raises(SubstitutionError, match=r"there is no \[3\] in steps.a.list"):
        substitute("{{ steps.a.list[3] }}", {"steps": {"a": {"list": [1]}}})


@pytest.mark.parametrize(
    "template",
    [
        "{{ __import__('os').system('touch /tmp/omni-pwned') }}",
        "{{ ''.__class__.__mro__ }}",
        "{{ name.upper() }}",
        "{{ 1 + 1 }}",
        "{{ name | safe }}",
        "{{ steps[0] }}x{{ open('/etc/passwd') }}",
    ],
)
def test_substitution_cannot_execute_code(template):
    marker = "/tmp/omni-pwned"
    with pytest.raises(PathError, match="is not a reference"):
        substitute(template, {"name": "x", "steps": {}})
    with pytest.raises(PathError):
        list(references(template))
    import os

    assert not os.path.exists(marker)


def test_dunder_names_are_plain_keys():
    """``__globals__`` is looked up as a dict key like any other name, so it finds nothing."""
    with pytest.raises(SubstitutionError, match="there is no '__globals__'"):
        substitute("{{ lipsum.__globals__ }}", {"lipsum": {}})


def test_attributes_are_never_read_only_keys():
    class Sneaky(dict):
        secret = "attribute"

    # Not a key of the dict: an attribute lookup would find it, a key lookup does not.
    with pytest.raises(SubstitutionError):
        substitute("{{ obj.secret }}", {"obj": Sneaky()})
    with pytest.raises(SubstitutionError):
        substitute("{{ text.upper }}", {"text": "abc"})


def test_substitution_is_one_pass():
    """A value that contains {{ … }} (a tool's output, say) is inserted literally, never expanded."""
    context = {"evil": "{{ secret }}", "secret": "s3cr3t"}
    assert substitute("{{ evil }}", context) == "{{ secret }}"
    assert substitute("value: {{ evil }}", context) == "value: {{ secret }}"


def test_parse_reference_shape():
    ref = parse_reference(" steps.create.result['structuredContent'].tags[0] ")
    assert ref.segments == ("steps", "create", "result", "structuredContent", "tags", 0)
    with pytest.raises(PathError):
        parse_reference("steps.*")
