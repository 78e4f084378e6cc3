"""Batched audit writes from the gateway keep one valid hash chain."""

from __future__ import annotations

import asyncio

from asgiref.sync import sync_to_async
from django.core.management import call_command

from omni.audit.models import AuditEvent
from omni.gateway.recording import AuditTarget, drain, record_later
from omni.tenants.services import create_organization
from tests.live import unique_slug


async def test_a_burst_of_events_is_written_in_order_as_one_chain(committed):
    org = await sync_to_async(create_organization)(unique_slug("burst"), "Burst")
    for number in range(120):
        record_later(
            "mcp.tools_call",
            organization=org,
            actor="gateway-test",
            target=AuditTarget("mcp.tool", f"t{number}"),
            data={"n": number, "outcome": "ok"},
        )
        if number % 40 == 0:
            await asyncio.sleep(0)  # let the writer start a batch while more events arrive
    await drain()
    events = await sync_to_async(
        lambda: list(
            AuditEvent.objects.filter(organization=org, action="mcp.tools_call")
            .order_by("seq")
            .values_list("seq", "data")
        )
    )()
    assert [data["n"] for _seq, data in events] == list(range(120))
    seqs = [seq for seq, _data in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == 120
    await sync_to_async(call_command)("verify_audit")  # exits non-zero (SystemExit) on a broken chain
