"""The load generator: ``run_shard(spec, on_tick=..., is_cancelled=...)`` executes one shard
(``omni.loadtest.contracts.ShardSpec``) from an asyncio loop and returns its ``ShardResult``.

Modules: ``shard`` (one shard's run: requests, scenarios, ticks, cancellation, the result),
``users`` (the closed and open arrival models), ``transports`` (2026-07-28, handshake and
legacy SSE connections over aiohttp), ``protocol`` (bodies, headers, answers, error kinds),
``operations`` (the compiled mix, scenarios), ``templates`` (argument templates), ``stats``
(HDR histograms, timeline, reservoirs), ``arrival`` (open-model rate shapes), ``inprocess`` (a
built-in server on a loopback port).
"""

from omni.loadtest.generator.operations import validate_templates
from omni.loadtest.generator.shard import run_shard
from omni.loadtest.generator.templates import TemplateError

__all__ = ["TemplateError", "run_shard", "validate_templates"]
