"""The bounds of a load run per organization: virtual users, request rate, duration, shards and
runs at the same time. Defaults are the ``LOADTEST_MAX_*`` settings; an organization's
``settings["loadtest"]`` (``{"max_users": 200, …}``, set by platform operators in the admin) may
change them for that organization. A platform operator may lift them for one run (``raise_limits``).
"""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings

from omni.loadtest.errors import RunRefused
from omni.loadtest.profiles import peak_rate

# bound name -> (setting, what it bounds)
BOUNDS: dict[str, tuple[str, str]] = {
    "max_users": ("LOADTEST_MAX_USERS", "virtual users"),
    "max_rate": ("LOADTEST_MAX_RATE", "requests per second"),
    "max_duration_s": ("LOADTEST_MAX_DURATION_S", "seconds of warm-up and measurement per phase"),
    "max_shards": ("LOADTEST_MAX_SHARDS", "shards"),
    "max_concurrent_runs": ("LOADTEST_MAX_CONCURRENT_RUNS", "load runs at the same time"),
}


def bound(org: Any, name: str) -> float:
    """The value of bound ``name`` for ``org`` (its override, else the setting)."""
    setting, _ = BOUNDS[name]
    overrides = (getattr(org, "settings", None) or {}).get("loadtest") or {}
    value = overrides.get(name) if isinstance(overrides, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return value
    return getattr(settings, setting)


def _refuse(org: Any, name: str, asked: float) -> RunRefused:
    setting, what = BOUNDS[name]
    limit = bound(org, name)
    return RunRefused(
        f"The run asks for {asked:g} {what}; the bound for organization {org.slug} is {limit:g} "
        f"({name}, setting {setting}). A platform operator can lift it for one run."
    )


def check_bounds(org: Any, profile: dict[str, Any], *, running: int) -> None:
    """``RunRefused`` naming the first bound the profile goes over (``running``: the organization's
    runs that are queued or running now)."""
    arrival = profile["arrival"]
    if arrival["model"] == "closed" and arrival["users"] > bound(org, "max_users"):
        raise _refuse(org, "max_users", arrival["users"])
    if arrival["model"] == "open" and peak_rate(arrival) > bound(org, "max_rate"):
        raise _refuse(org, "max_rate", peak_rate(arrival))
    seconds = profile["warmup_s"] + profile["duration_s"]
    if seconds > bound(org, "max_duration_s"):
        raise _refuse(org, "max_duration_s", seconds)
    if profile["shards"] > bound(org, "max_shards"):
        raise _refuse(org, "max_shards", profile["shards"])
    if running + 1 > bound(org, "max_concurrent_runs"):
        raise _refuse(org, "max_concurrent_runs", running + 1)


# Per mode, the gateway quotas each virtual user takes one unit of (docs/security.md, "Quotas").
_MODE_QUOTAS = {
    "handshake": (("sessions_per_key", "MCP_QUOTA_SESSIONS_PER_KEY"),),
    "sse": (
        ("sessions_per_key", "MCP_QUOTA_SESSIONS_PER_KEY"),
        ("streams_per_key", "MCP_QUOTA_STREAMS_PER_KEY"),
    ),
}


def check_quotas(orgs: list[Any], profile: dict[str, Any]) -> None:
    """``RunRefused`` when the virtual users of a handshake or SSE run through the gateway would
    hold more sessions or streams on one organization's key than its quota allows (the run's key
    is one key: lifting the bounds does not lift quotas, so such a run could only fail)."""
    from omni.gateway.quotas import quota_for

    arrival = profile["arrival"]
    names = _MODE_QUOTAS.get(profile["mode"], ())
    if profile["target"] != "gateway" or arrival["model"] != "closed" or not names:
        return
    weights = {entry["org"]: entry["weight"] for entry in profile.get("organizations") or []}
    total = sum(weights.get(org.slug, 1.0) for org in orgs)
    for org in orgs:
        users = math.ceil(arrival["users"] * weights.get(org.slug, 1.0) / total)
        for name, setting in names:
            quota = quota_for(org, name)
            if users > quota:
                raise RunRefused(
                    f"In mode {profile['mode']} each virtual user holds one of the gateway's "
                    f"{name.replace('_', ' ')}: about {users} users of organization {org.slug} exceed its "
                    f"{name} quota of {quota} (setting {setting}, or the organization's "
                    'settings["quotas"]). Use fewer users or mode 2026-07-28.'
                )
