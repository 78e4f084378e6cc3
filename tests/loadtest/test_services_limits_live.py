"""The run's keys at the real gateway: limited like any key of the organization, unless a
platform operator lifted the limits for that run (ApiKey.rate_limit_exempt)."""

from __future__ import annotations

import time

from omni.loadtest.models import LoadShard
from omni.loadtest.services import create_run, release_credentials
from tests.gateway import rawmcp
from tests.gateway.world import make_tenant
from tests.loadtest.services_world import TINY

# Whatever the gateway answers past its rate limiter (here a 400: no single-exchange envelope),
# only a 429 says the limiter refused it.
LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}


def _key(run) -> str:
    shard = LoadShard.objects.for_org(run.organization).get(run=run, phase="main", index=0)
    return shard.spec["endpoints"][0]["headers"]["Authorization"].removeprefix("Bearer ")


def _statuses(url: str, key: str, count: int) -> list[int]:
    return [rawmcp.post(url, LIST, key=key, version="2026-07-28").status_code for _ in range(count)]


def test_lifted_limits_exempt_only_that_runs_keys(live_server, committed, settings):
    settings.LOADTEST_MAX_CONCURRENT_RUNS = 5
    tenant = make_tenant("ltlimits", servers=())
    tenant.org.settings = {"rate_limits": {"mcp_per_key_per_minute": 1000, "mcp_per_org_per_minute": 4}}
    tenant.org.save()
    lifted = create_run(tenant.org, TINY, trigger="command", raise_limits=True, base_url=live_server.url)
    limited = create_run(tenant.org, TINY, trigger="command", base_url=live_server.url)
    try:
        if time.time() % 60 > 45:  # keep the whole exchange inside one fixed window
            time.sleep(61 - time.time() % 60)
        # the lifted run's key goes past the organization's limit and does not draw from it
        statuses = _statuses(live_server.mcp_url, _key(lifted), 8)
        assert len(statuses) == 8 and 429 not in statuses, statuses
        # an ordinary run's key has the organization's whole budget, then is refused
        statuses = _statuses(live_server.mcp_url, _key(limited), 5)
        assert 429 not in statuses[:4] and statuses[4] == 429, statuses
    finally:
        release_credentials(lifted)
        release_credentials(limited)
