"""The short-lived API keys of a load run: one per (run, organization), with only the scopes the
profile's operations need, expiring after the run's planned end plus ``LOADTEST_KEY_GRACE_S``.

The raw key exists only in the shards' specs (``LoadShard.spec``, encrypted with the organization's
data key); the key row carries the run in its name (``loadtest run <uuid>``), which is how
``release_credentials`` finds and revokes them. Keys of a run whose limits a platform operator
lifted are ``rate_limit_exempt``: the gateway does not count them against the per-minute MCP limits
(the organization's other clients keep their own budget untouched).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from omni.loadtest.profiles import profile_scopes
from omni.tenants.models import ApiKey, Organization
from omni.tenants.services import create_api_key, revoke_api_key


def key_name(run: Any) -> str:
    return f"loadtest run {run.uuid}"


def planned_seconds(profile: dict[str, Any]) -> float:
    """How long the run's phases take, back to back (warm-up and measurement)."""
    phases = 2 if profile.get("direct") else 1
    return phases * (profile["warmup_s"] + profile["duration_s"])


def issue_key(run: Any, org: Organization) -> str:
    """A fresh key of ``org`` for ``run``; returns the raw key (never stored in clear)."""
    expires = timezone.now() + timedelta(seconds=planned_seconds(run.spec) + settings.LOADTEST_KEY_GRACE_S)
    key, raw = create_api_key(
        org,
        key_name(run),
        scopes=sorted(profile_scopes(run.spec)),
        expires_at=expires,
        created_by=run.created_by,
    )
    if run.raised_limits:
        ApiKey.objects.for_org(org).filter(pk=key.pk).update(rate_limit_exempt=True)
    return raw


def run_organizations(run: Any) -> list[Organization]:
    """The organizations a run sends load as (its own, or the profile's ``organizations``)."""
    slugs = [entry["org"] for entry in run.spec.get("organizations") or []]
    if not slugs:
        return [run.organization]
    by_slug = {org.slug: org for org in Organization.objects.filter(slug__in=slugs)}
    return [by_slug[slug] for slug in slugs if slug in by_slug]


def run_keys(run: Any) -> list[ApiKey]:
    """The API keys made for ``run`` (in every organization it loads)."""
    keys: list[ApiKey] = []
    for org in run_organizations(run):
        keys += list(ApiKey.objects.for_org(org).filter(name=key_name(run)))
    return keys


def release_credentials(run: Any) -> None:
    """Revoke every key made for ``run`` (idempotent)."""
    for key in run_keys(run):
        revoke_api_key(key)
