"""Idempotent creation of registry rows from the JSON files in ``fixtures/`` (used by seed_demo).

The files are plain lists of objects (not ``loaddata`` fixtures: those bypass ``save()`` and would
skip the gateway notification). An item is created when its key is missing and left alone when it
exists, so re-running changes nothing and keeps edits made since.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from omni.registry.models import Prompt, RegistryItem, Resource, ResourceTemplate, ServerConnection
from omni.tenants.models import Organization

FIXTURES_DIR = Path(settings.BASE_DIR) / "fixtures"

DEMO_SERVERS: list[dict[str, Any]] = [
    {
        "name": "knowledge",
        "title": "Knowledge base",
        "description": "Notes of the organization: search, read, write.",
        "transport": "inprocess",
        "target": "knowledge",
    },
    {
        "name": "utilities",
        "title": "Utilities",
        "description": "Everyday helpers: time, text, maths, ids.",
        "transport": "inprocess",
        "target": "utilities",
    },
    {
        "name": "analytics",
        "title": "Analytics",
        "description": "Small datasets and statistics over them.",
        "transport": "inprocess",
        "target": "analytics",
    },
]


# Servers an organization of the demo has for itself: globex can test error handling and load with
# the fault-injecting server (acme, whose key `make run` prints for IDE clients, keeps a catalogue
# without tools that misbehave on purpose).
DEMO_ORG_SERVERS: dict[str, list[dict[str, Any]]] = {
    "globex": [
        {
            "name": "faults",
            "title": "Fault injection",
            "description": "Misbehaves on purpose (slow, failing, hanging, cut, oversized answers): "
            "for testing error handling and load. Options set its faults per connection.",
            "transport": "inprocess",
            "target": "faults",
        }
    ],
}


@dataclass
class SeedResult:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{len(self.created)} created, {len(self.existing)} already there"


def load_fixture(name: str) -> list[dict[str, Any]]:
    data = json.loads((FIXTURES_DIR / name).read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"fixtures/{name} must hold a JSON list")
    return data


def ensure_items(
    model: type[RegistryItem], organization: Organization | None, items: list[dict[str, Any]]
) -> SeedResult:
    """Create each item of ``items`` (validated) unless ``organization`` already has its key."""
    result = SeedResult()
    key_field = model.override_field
    for raw in items:
        data = dict(raw)
        if "blob_base64" in data:
            data["blob"] = base64.b64decode(data.pop("blob_base64"), validate=True)
        key = data[key_field]
        if model.objects.filter(organization=organization, **{key_field: key}).exists():
            result.existing.append(key)
            continue
        item = model(organization=organization, **data)
        item.full_clean()
        item.save()
        result.created.append(key)
    return result


def seed_global_registry() -> dict[str, SeedResult]:
    """The demo prompts, resources, resource templates and the three built-in servers, global."""
    return {
        "prompts": ensure_items(Prompt, None, load_fixture("demo_prompts.json")),
        "resources": ensure_items(Resource, None, load_fixture("demo_resources.json")),
        "resource templates": ensure_items(
            ResourceTemplate, None, load_fixture("demo_resource_templates.json")
        ),
        "servers": ensure_items(ServerConnection, None, DEMO_SERVERS),
    }
