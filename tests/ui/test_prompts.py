"""Prompts in the UI: list and search, create and edit with inline errors, delete, global items
read-only with override, preview through render_prompt."""

from __future__ import annotations

import json

from omni.registry.models import Prompt
from tests.factories import PromptFactory

MESSAGES = json.dumps([{"role": "user", "content": "Review {code} carefully."}])
ARGUMENTS = json.dumps([{"name": "code", "description": "The code", "required": True}])


def _url(world, rest: str = "") -> str:
    return f"/o/{world.acme.slug}/prompts/{rest}"


def test_list_and_search(world, login):
    PromptFactory(organization=world.acme, name="code_review", description="Review a diff")
    PromptFactory(organization=world.acme, name="summarize", description="Shorten a text")
    PromptFactory(organization=world.globex, name="globex_secret")
    PromptFactory(name=f"shared_{world.acme.slug}", description="A global prompt")
    client = login(world.viewer)
    page = client.get(_url(world)).content.decode()
    assert "code_review" in page and "summarize" in page and f"shared_{world.acme.slug}" in page
    assert "globex_secret" not in page
    assert "badge-global" in page
    assert "New prompt" not in page and "Edit</a>" not in page  # read-only for viewers
    found = client.get(_url(world), {"q": "DIFF"}).content.decode()
    assert "code_review" in found and "summarize" not in found
    # htmx search swaps only the rows.
    rows = client.get(_url(world), {"q": "shorten"}, HTTP_HX_REQUEST="true").content.decode()
    assert "summarize" in rows and "<html" not in rows
    none = client.get(_url(world), {"q": "zzz-nothing"}).content.decode()
    assert "No prompt matches" in none


def test_create_edit_delete(world, login):
    client = login(world.admin)
    response = client.post(
        _url(world, "new/"),
        {"name": "review", "title": "Code review", "arguments": ARGUMENTS, "messages": MESSAGES},
    )
    assert response.status_code == 302
    prompt = Prompt.objects.owned_by(world.acme).get(name="review")
    assert response["Location"] == _url(world, f"{prompt.uuid}/")
    assert prompt.arguments == [{"name": "code", "description": "The code", "required": True}]
    detail = client.get(response["Location"]).content.decode()
    assert "Created prompt review." in detail and "Review {code} carefully." in detail

    edit_form = client.get(_url(world, f"{prompt.uuid}/edit/")).content.decode()
    assert "&quot;name&quot;: &quot;code&quot;" in edit_form  # the JSON is shown for editing
    response = client.post(
        _url(world, f"{prompt.uuid}/edit/"),
        {"name": "review", "title": "Better review", "arguments": ARGUMENTS, "messages": MESSAGES},
    )
    assert response.status_code == 302
    prompt.refresh_from_db()
    assert prompt.title == "Better review"

    response = client.post(_url(world, f"{prompt.uuid}/delete/"), HTTP_HX_REQUEST="true")
    assert response.status_code == 204 and response["HX-Redirect"] == _url(world)
    assert not Prompt.objects.filter(pk=prompt.pk).exists()


def test_form_errors_are_inline_and_write_nothing(world, login):
    PromptFactory(organization=world.acme, name="taken")
    client = login(world.owner)
    cases = [
        ({"name": "bad name!", "messages": MESSAGES, "arguments": ARGUMENTS}, "Use only letters, digits"),
        ({"name": "ok", "messages": "[not json", "arguments": ARGUMENTS}, "Enter a valid JSON."),
        ({"name": "ok", "messages": "[]", "arguments": ARGUMENTS}, "This field is required."),
        (
            {"name": "ok", "messages": '"just text"', "arguments": ARGUMENTS},
            "Messages must be a non-empty list.",
        ),
        (
            {"name": "ok", "messages": json.dumps([{"role": "robot", "content": "x"}])},
            "the role must be &#x27;user&#x27; or &#x27;assistant&#x27;",
        ),
        (
            {"name": "ok", "messages": MESSAGES, "arguments": "[]"},
            "Placeholder(s) without an argument: code.",
        ),
        ({"name": "ok", "messages": MESSAGES, "arguments": '{"a": 1}'}, "Arguments must be a list."),
        (
            {"name": "taken", "messages": MESSAGES, "arguments": ARGUMENTS},
            "already has an item with this name",
        ),
    ]
    before = Prompt.objects.owned_by(world.acme).count()
    for data, message in cases:
        response = client.post(_url(world, "new/"), data)
        assert response.status_code == 400, data
        page = response.content.decode()
        assert message in page, (data, message)
        assert 'class="errorlist' in page
    assert Prompt.objects.owned_by(world.acme).count() == before
    # A failed edit leaves the prompt as it was.
    prompt = Prompt.objects.owned_by(world.acme).get(name="taken")
    response = client.post(_url(world, f"{prompt.uuid}/edit/"), {"name": "taken", "messages": "{"})
    assert response.status_code == 400
    prompt.refresh_from_db()
    assert prompt.messages[0]["content"].startswith("Tell me about")


def test_global_prompt_is_read_only_and_can_be_overridden(world, login):
    glob = PromptFactory(name=f"g_{world.acme.slug}", description="the global one")
    client = login(world.owner)
    detail = client.get(_url(world, f"{glob.uuid}/")).content.decode()
    assert "badge-global" in detail and "Override" in detail and "/edit/" not in detail
    response = client.post(_url(world, f"{glob.uuid}/override/"))
    copy = Prompt.objects.owned_by(world.acme).get(name=glob.name)
    assert response.status_code == 302 and response["Location"] == _url(world, f"{copy.uuid}/edit/")
    assert (copy.description, copy.messages) == (glob.description, glob.messages)
    listing = client.get(_url(world)).content.decode()
    assert "overridden" in listing
    # Overriding again points at the existing copy instead of failing.
    again = client.post(_url(world, f"{glob.uuid}/override/"))
    assert again["Location"] == _url(world, f"{copy.uuid}/")
    assert Prompt.objects.owned_by(world.acme).filter(name=glob.name).count() == 1
    # globex still sees only the global one.
    assert Prompt.objects.owned_by(world.globex).filter(name=glob.name).count() == 0


def test_preview_renders_with_arguments(world, login):
    prompt = PromptFactory(organization=world.acme, name="greet")
    client = login(world.viewer)
    page = client.get(_url(world, f"{prompt.uuid}/")).content.decode()
    assert 'name="arg_topic"' in page and 'name="arg_tone"' in page
    response = client.get(
        _url(world, f"{prompt.uuid}/preview/"),
        {"arg_topic": "MCP", "arg_tone": "calm"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    fragment = response.content.decode()
    assert "Tell me about MCP in a calm tone." in fragment and "Sure: MCP." in fragment
    assert "<html" not in fragment
    # Without htmx the whole page comes back, with the values kept in the form.
    full = client.get(_url(world, f"{prompt.uuid}/preview/"), {"arg_topic": "MCP"}).content.decode()
    assert "<html" in full and 'value="MCP"' in full and "Tell me about MCP in a  tone." in full


def test_preview_errors_are_shown_inline(world, login):
    prompt = PromptFactory(organization=world.acme, name="greet")
    client = login(world.viewer)
    response = client.get(
        _url(world, f"{prompt.uuid}/preview/"), {"arg_tone": "calm"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 400
    assert "needs the argument(s) &#x27;topic&#x27;" in response.content.decode()
    response = client.get(_url(world, f"{prompt.uuid}/preview/"), {"arg_topic": "x", "arg_nope": "y"})
    assert response.status_code == 400 and "has no argument(s) &#x27;nope&#x27;" in response.content.decode()
