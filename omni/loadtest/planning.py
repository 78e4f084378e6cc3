"""``plan_shards(run)``: turn a run's normalised profile into ``LoadShard`` rows (ShardSpecs).

One set of shards per phase: ``main`` (the profile's target) and, when the profile names a
``direct`` server, ``direct`` (the same load sent to that server alone, right after). Within a
phase the load is split over the shards: virtual users with the remainder spread over the first
shards (a shard never gets 0 users: with fewer users than shards, fewer shards), request rates
divided evenly (their sum is the profile's rate), the raw-latency samples too. Every shard sends to
every organization's endpoint, weighted as the profile says. Shard ``i`` gets the same seed in
both phases, so the direct phase replays the same data and mix as the main one.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import transaction

from omni.loadtest import targets
from omni.loadtest.credentials import issue_key, run_organizations
from omni.loadtest.models import LoadRun, LoadShard


def shard_seed(seed: int, index: int) -> int:
    """A seed of its own for shard ``index`` (same in every phase), derived from the profile's."""
    digest = hashlib.sha256(f"{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:7], "big")


def split_int(total: int, parts: int) -> list[int]:
    """``total`` over ``parts`` as evenly as possible, the remainder on the first parts."""
    base, extra = divmod(total, parts)
    return [base + (1 if index < extra else 0) for index in range(parts)]


def shard_count(profile: dict[str, Any], requested: int | None = None) -> int:
    """How many shards a phase gets: the profile's (or ``requested``), at most one per user."""
    count = max(1, int(requested or profile["shards"]))
    arrival = profile["arrival"]
    if arrival["model"] == "closed":
        count = min(count, arrival["users"])
    return count


def split_arrival(arrival: dict[str, Any], shards: int) -> list[dict[str, Any]]:
    """Each shard's share of the arrival model; shares add up to the whole."""
    if arrival["model"] == "closed":
        return [{**arrival, "users": users} for users in split_int(arrival["users"], shards)]
    in_flight = split_int(arrival.get("max_in_flight", 1000), shards)
    shares = []
    for index in range(shards):
        share = {**arrival, "rate": arrival["rate"] / shards, "max_in_flight": max(1, in_flight[index])}
        for key in ("rate_to", "spike_rate"):
            if key in arrival:
                share[key] = arrival[key] / shards
        if "steps" in arrival:
            share["steps"] = [[at, rate / shards] for at, rate in arrival["steps"]]
        shares.append(share)
    return shares


def _endpoints(run: LoadRun, phase: str, keys: dict[str, str], base_url: str | None) -> list[dict[str, Any]]:
    profile = run.spec
    weights = {entry["org"]: entry["weight"] for entry in profile.get("organizations") or []}
    server = profile.get("direct") if phase == "direct" else targets.server_name(profile["target"])
    endpoints = []
    for org in run_organizations(run):
        weight = weights.get(org.slug, 1.0)
        if server:
            endpoints.append(targets.server_endpoint(org, server, weight))
        else:
            endpoints.append(targets.gateway_endpoint(org, keys[org.slug], weight, profile["mode"], base_url))
    return endpoints


def _unprefixed(name: Any, server: str) -> Any:
    prefix = f"{server}__"
    return name[len(prefix) :] if isinstance(name, str) and name.startswith(prefix) else name


def operations_for(profile: dict[str, Any], server: str | None) -> list[dict[str, Any]]:
    """The profile's operations as ``server`` alone knows them: a server measured directly names
    its tools without the gateway's ``<server>__`` namespace (in scenario steps too)."""
    if not server:
        return profile["operations"]
    out = []
    for op in profile["operations"]:
        op = dict(op)
        if op.get("kind") in ("tools/call", "prompts/get") and "name" in op:
            op["name"] = _unprefixed(op["name"], server)
        if op.get("steps"):
            steps = []
            for step in op["steps"]:
                step = dict(step)
                params = dict(step.get("params") or {})
                if step.get("operation") in ("tools/call", "prompts/get") and "name" in params:
                    params["name"] = _unprefixed(params["name"], server)
                step["params"] = params
                steps.append(step)
            op["steps"] = steps
        out.append(op)
    return out


def _spec(
    run: LoadRun, phase: str, index: int, shards: int, endpoints: list, arrival: dict
) -> dict[str, Any]:
    profile = run.spec
    server = profile.get("direct") if phase == "direct" else targets.server_name(profile["target"])
    spec: dict[str, Any] = {
        "run": str(run.uuid),
        "phase": phase,
        "index": index,
        "shards": shards,
        "mode": profile["mode"],
        "endpoints": endpoints,
        "operations": operations_for(profile, server),
        "arrival": arrival,
        "warmup_s": profile["warmup_s"],
        "duration_s": profile["duration_s"],
        "timeout_s": profile["timeout_s"],
        "seed": shard_seed(profile["seed"], index),
        "samples": -(-profile["samples"] // shards),
    }
    if profile.get("revision"):
        spec["revision"] = profile["revision"]
    return spec


def phases(profile: dict[str, Any]) -> list[str]:
    return ["main", "direct"] if profile.get("direct") else ["main"]


@transaction.atomic
def plan_shards(run: LoadRun, *, shards: int | None = None, base_url: str | None = None) -> list[LoadShard]:
    """Create ``run``'s shard rows (every phase) and the run's API keys; return the rows.

    ``shards`` overrides the profile's count; ``base_url`` the gateway's (else the run's
    ``spec["gateway_url"]``, else ``LOADTEST_GATEWAY_URL``).
    """
    profile = run.spec
    base_url = base_url or profile.get("gateway_url")
    count = shard_count(profile, shards)
    needs_keys = targets.server_name(profile["target"]) is None
    keys = {org.slug: issue_key(run, org) for org in run_organizations(run)} if needs_keys else {}
    arrivals = split_arrival(profile["arrival"], count)
    rows = []
    for phase in phases(profile):
        endpoints = _endpoints(run, phase, keys, base_url)
        for index in range(count):
            spec = _spec(run, phase, index, count, endpoints, arrivals[index])
            rows.append(
                LoadShard.objects.create(
                    run=run, organization=run.organization, index=index, phase=phase, spec=spec
                )
            )
    LoadRun.objects.for_org(run.organization).filter(pk=run.pk).update(shards_total=len(rows))
    run.shards_total = len(rows)
    return rows
