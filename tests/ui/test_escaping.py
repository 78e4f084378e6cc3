"""User data is escaped everywhere it is shown: <script> in names, titles and descriptions."""

from __future__ import annotations

from omni.registry.models import Prompt
from tests.factories import PromptFactory, ResourceFactory, ServerConnectionFactory

PAYLOAD = '<script>alert("xss")</script>'
ESCAPED = "&lt;script&gt;alert(&quot;xss&quot;)&lt;/script&gt;"


def test_script_payloads_render_escaped(world, login):
    slug = world.acme.slug
    prompt = PromptFactory(
        organization=world.acme,
        name="xss_prompt",
        title=PAYLOAD,
        description=PAYLOAD,
        arguments=[{"name": "topic", "description": PAYLOAD, "required": True}],
        messages=[{"role": "user", "content": PAYLOAD + " {topic}"}],
    )
    resource = ResourceFactory(
        organization=world.acme, uri="docs://acme/xss", name=PAYLOAD, description=PAYLOAD, text=PAYLOAD
    )
    server = ServerConnectionFactory(
        organization=world.acme, name="xss-server", title=PAYLOAD, description=PAYLOAD
    )
    world.acme.name = PAYLOAD
    world.acme.save()
    client = login(world.owner)
    pages = [
        f"/o/{slug}/",
        f"/o/{slug}/members/",
        f"/o/{slug}/prompts/",
        f"/o/{slug}/prompts/{prompt.uuid}/",
        f"/o/{slug}/prompts/{prompt.uuid}/edit/",
        f"/o/{slug}/prompts/{prompt.uuid}/preview/?arg_topic=" + PAYLOAD,
        f"/o/{slug}/resources/",
        f"/o/{slug}/resources/{resource.uuid}/",
        f"/o/{slug}/servers/",
        f"/o/{slug}/servers/{server.uuid}/",
        f"/o/{slug}/servers/{server.uuid}/edit/",
    ]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        html = response.content.decode()
        assert PAYLOAD not in html, path
        assert ESCAPED in html, path


def test_a_script_name_is_refused_and_echoed_escaped(world, login):
    response = login(world.owner).post(
        f"/o/{world.acme.slug}/prompts/new/",
        {"name": PAYLOAD, "description": PAYLOAD, "messages": '[{"role": "user", "content": "x"}]'},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Use only letters, digits" in html
    assert PAYLOAD not in html and ESCAPED in html
    assert not Prompt.objects.owned_by(world.acme).exists()


def test_search_query_is_escaped(world, login):
    html = login(world.viewer).get(f"/o/{world.acme.slug}/prompts/", {"q": PAYLOAD}).content.decode()
    assert PAYLOAD not in html and ESCAPED in html
