"""Quotas of notes and datasets per organization (mcp_servers/quotas.py): count and bytes, defaults
from settings, per-organization overrides, a clear tool error naming the quota, an audit event."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from mcp_servers import quotas
from mcp_servers.models import Dataset, Note
from omni.audit.models import AuditEvent
from omni.tenants.models import Organization

from .conftest import ToolCaller


async def make_org(slug: str, **overrides: int) -> Organization:
    org_settings = {"quotas": overrides} if overrides else {}
    return await sync_to_async(Organization.objects.create)(slug=slug, name=slug, settings=org_settings)


async def refusals(slug: str) -> list[dict]:
    events = AuditEvent.objects.filter(action="quota.exceeded", org_slug=slug).order_by("seq")
    return [event.data async for event in events]


async def test_notes_count_quota_override(knowledge: ToolCaller, acme: str):
    await make_org(acme, notes=2)
    await knowledge.ok("create_note", title="one")
    await knowledge.ok("create_note", title="two")
    message = await knowledge.error("create_note", title="three")
    assert "quota exceeded: create_note would bring your organization to 3 notes" in message
    assert "limit of 2" in message and "quota 'notes'" in message and "QUOTA_NOTES" in message
    assert await Note.objects.for_org(acme).acount() == 2  # nothing was written
    (event,) = await refusals(acme)
    assert event["quota"] == "notes" and event["limit"] == 2 and event["tool"] == "create_note"
    event_row = await AuditEvent.objects.filter(action="quota.exceeded", org_slug=acme).afirst()
    assert (event_row.target_type, event_row.actor_name) == ("quota", "knowledge server")


async def test_note_bytes_quota_counts_utf8_and_the_update_replaces_the_old_size(
    knowledge: ToolCaller, acme: str
):
    await make_org(acme, note_bytes=100)
    note = await knowledge.ok("create_note", title="t", body="é" * 40)  # 1 + 80 bytes
    assert await quotas.notes_usage(acme) == (1, 81)
    # Replacing the body counts only the new size: 1 + 90 bytes fits, 1 + 100 does not.
    await knowledge.ok("update_note", id=note["id"], body="x" * 90)
    message = await knowledge.error("update_note", id=note["id"], body="x" * 100)
    assert "quota 'note_bytes'" in message and "101 bytes of notes" in message and "limit of 100" in message
    assert (await Note.objects.aget(public_id=note["id"])).body == "x" * 90
    assert "quota 'note_bytes'" in await knowledge.error("create_note", title="more", body="y" * 20)
    assert [e["quota"] for e in await refusals(acme)] == ["note_bytes", "note_bytes"]


async def test_defaults_come_from_settings(knowledge: ToolCaller, acme: str, settings):
    settings.QUOTA_DEFAULTS = {**settings.QUOTA_DEFAULTS, "notes": 1}
    await knowledge.ok("create_note", title="only one")  # no Organization row: the defaults apply
    assert "limit of 1" in await knowledge.error("create_note", title="second")
    await make_org(acme, notes=3)  # an override wins over the default
    await knowledge.ok("create_note", title="second")


async def test_datasets_count_and_bytes(analytics: ToolCaller, acme: str):
    await make_org(acme, datasets=1, dataset_bytes=2000)
    small = "a,b\n1,2\n3,4\n"
    await analytics.ok("load_csv", name="first", csv_text=small)
    await analytics.ok("load_csv", name="first", csv_text=small + "5,6\n")  # replacing is not one more
    message = await analytics.error("load_csv", name="second", csv_text=small)
    assert "2 datasets" in message and "quota 'datasets'" in message and "QUOTA_DATASETS" in message
    big = "a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(300))
    message = await analytics.error("load_csv", name="first", csv_text=big)
    assert "quota 'dataset_bytes'" in message and "QUOTA_DATASET_BYTES" in message
    dataset = await Dataset.objects.for_org(acme).aget(name="first")
    assert len(dataset.rows) == 3  # the refused load changed nothing
    count, used = await quotas.datasets_usage(acme)
    assert count == 1 and 0 < used < 2000
    assert [e["quota"] for e in await refusals(acme)] == ["datasets", "dataset_bytes"]


async def test_another_organization_is_not_counted(knowledge: ToolCaller, acme: str, globex: str):
    await make_org(acme, notes=1)
    await knowledge.ok("create_note", title="acme's")
    await knowledge.ok("create_note", as_org=globex, title="globex's")
    await knowledge.ok("create_note", as_org=globex, title="globex's too")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"notes": 5, "dataset_bytes": 0}, None),
        ([], "must be an object"),
        ({"notez": 1}, "unknown quota 'notez'"),
        ({"notes": -1}, "whole number"),
        ({"notes": True}, "whole number"),
    ],
)
def test_validate_quotas(value, problem):
    errors = quotas.validate_quotas(value)
    assert (errors == []) if problem is None else (problem in errors[0])
