"""A small committed world for live gateway tests: two organizations with their own servers,
prompts, resources and API keys. Everything is organization-scoped (nothing global), with unique
slugs, so live tests never see each other's rows."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from omni.registry.models import Prompt, Resource, ResourceTemplate, ServerConnection
from omni.tenants.models import ApiKey, Organization
from omni.tenants.services import create_api_key, create_organization
from tests.live import unique_slug

BUILTIN = ("knowledge", "utilities", "analytics")
PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@dataclass
class Tenant:
    org: Organization
    key: str
    api_key: ApiKey
    extra_keys: dict[str, str] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def make_tenant(prefix: str, *, servers: tuple[str, ...] = BUILTIN) -> Tenant:
    org = create_organization(unique_slug(prefix), prefix.title())
    for name in servers:
        ServerConnection.objects.create(
            organization=org, name=name, transport="inprocess", target=name, enabled=True, timeout_seconds=10
        )
    Prompt.objects.create(
        organization=org,
        name="greet",
        title="Greeting",
        description=f"Greets someone on behalf of {prefix}",
        arguments=[
            {"name": "who", "description": "whom to greet", "required": True},
            {"name": "tone", "description": "optional tone", "required": False},
        ],
        messages=[
            {"role": "user", "content": f"{prefix} says hello to {{who}} {{tone}}"},
            {"role": "assistant", "content": "Hello {who}!"},
        ],
    )
    Prompt.objects.create(
        organization=org,
        name=f"{prefix}_only",
        description=f"a prompt only {prefix} has",
        arguments=[],
        messages=[{"role": "user", "content": f"secret of {prefix}"}],
    )
    Resource.objects.create(
        organization=org,
        uri=f"memo://{prefix}/readme",
        name="readme",
        mime_type="text/markdown",
        text=f"# {prefix} readme",
    )
    Resource.objects.create(
        organization=org,
        uri=f"memo://{prefix}/logo.png",
        name="logo",
        mime_type="image/png",
        text="",
        blob=PNG_1X1,
    )
    ResourceTemplate.objects.create(
        organization=org,
        uri_template="topics://{topic}/summary",
        name="topic_summary",
        mime_type="text/plain",
        text_template=f"{prefix} summary of {{topic}}",
    )
    api_key, raw = create_api_key(org, unique_slug("key"))
    return Tenant(org=org, key=raw, api_key=api_key)
