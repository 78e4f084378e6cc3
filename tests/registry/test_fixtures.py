"""The demo fixtures are valid, render, and are seeded without duplicates."""

import pytest

from omni.registry.models import Prompt, Resource, ResourceTemplate
from omni.registry.seeding import DEMO_SERVERS, ensure_items, load_fixture, seed_global_registry
from omni.registry.services import match_resource_template, render_prompt, render_resource_template

PROMPTS = load_fixture("demo_prompts.json")
RESOURCES = load_fixture("demo_resources.json")
TEMPLATES = load_fixture("demo_resource_templates.json")


def test_fixture_sizes():
    assert len(PROMPTS) == 7 and len(RESOURCES) == 6 and len(TEMPLATES) == 2
    assert len(DEMO_SERVERS) == 3
    assert sum("blob_base64" in item for item in RESOURCES) == 1
    assert all(len(p["messages"]) >= 2 for p in PROMPTS)


@pytest.mark.parametrize("data", PROMPTS, ids=lambda d: d["name"])
def test_demo_prompt_is_valid_and_renders(data):
    prompt = Prompt(**data)
    prompt.clean_fields()
    prompt.clean()
    arguments = {arg["name"]: f"<{arg['name']}>" for arg in data["arguments"] if arg["required"]}
    messages = render_prompt(prompt, arguments)
    rendered = "\n".join(m["text"] for m in messages)
    assert all(value in rendered for value in arguments.values())
    assert {m["role"] for m in messages} <= {"user", "assistant"}


def test_translate_keeps_its_escaped_placeholder():
    prompt = Prompt(**next(p for p in PROMPTS if p["name"] == "translate"))
    text = render_prompt(prompt, {"text": "Hi", "target_language": "French"})[0]["text"]
    assert "placeholders such as {name} unchanged" in text


@pytest.mark.django_db
def test_seeding_is_idempotent_and_valid():
    first = seed_global_registry()
    second = seed_global_registry()
    for kind, result in second.items():
        assert result.created == [], kind
        assert sorted(result.existing) == sorted(first[kind].created + first[kind].existing)
    logo = Resource.objects.global_only().get(uri="image://omni/logo.png")
    assert logo.content_bytes().startswith(b"\x89PNG\r\n\x1a\n") and logo.text == ""
    assert ensure_items(Resource, None, RESOURCES).created == []


@pytest.mark.django_db
def test_demo_templates_match_and_render():
    seed_global_registry()
    template = ResourceTemplate.objects.global_only().get(name="topic-summary")
    variables = match_resource_template(template, "notes://kubernetes/summary")
    assert variables == {"topic": "kubernetes"}
    assert "# kubernetes: summary" in render_resource_template(template, variables)
