"""Gateway audit events go through the durable spool and end up as one valid hash chain."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command

from omni.audit.models import AuditEvent
from omni.audit.spool.writer import stop_writer
from omni.gateway.recording import AuditTarget, drain, record_later
from omni.lifecycle import run_drain_hooks
from omni.tenants.services import create_organization
from tests.live import unique_slug


@pytest.fixture(autouse=True, scope="module")
def _stop_the_writer_thread():
    """The first record_later starts this process's writer thread; stop it after these tests so
    that it holds no connection when the test database is dropped."""
    yield
    stop_writer()


def _rows(org):
    return sync_to_async(
        lambda: list(
            AuditEvent.objects.filter(organization=org, action="mcp.tools_call")
            .order_by("source_seq")
            .values_list("seq", "source", "source_seq", "data")
        )
    )()


async def test_a_burst_of_events_is_written_once_each_as_one_chain(committed):
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
    assert await drain(timeout=60)  # bounded; a loaded machine with a long shared spool needs more than 10 s
    events = await _rows(org)
    # Numbered at the source in the order they happened (seq is the order of writing, which
    # several writers draining one spool may interleave).
    assert [data["n"] for _seq, _source, _n, data in events] == list(range(120))
    assert len({source for _seq, source, _n, _data in events}) == 1
    numbers = [n for _seq, _source, n, _data in events]
    assert numbers == list(range(numbers[0], numbers[0] + 120))
    assert len({seq for seq, *_ in events}) == 120
    await sync_to_async(call_command)("verify_audit")  # exits non-zero (SystemExit) on a broken chain


async def test_the_drain_hook_writes_what_is_spooled(committed):
    org = await sync_to_async(create_organization)(unique_slug("drain"), "Drain")
    for number in range(5):
        record_later("mcp.tools_call", organization=org, actor="gateway-test", data={"n": number})
    await run_drain_hooks()  # what the web process runs at shutdown
    assert len(await _rows(org)) == 5
