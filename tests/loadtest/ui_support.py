"""Support of the load-test UI tests: a world with one user per role, logged-in clients, and
reports built like the execution part builds them (``contracts.Report``: HDR histograms of real
latency samples, summarised with ``omni.loadtest.hdr``)."""

from __future__ import annotations

import random
import uuid
from typing import Any

from django.test import Client

from omni.loadtest import hdr
from omni.loadtest.models import LoadRun
from omni.tenants.models import Role
from tests.factories import LoadRunFactory, MembershipFactory, OrganizationFactory, UserFactory

ROLES = ("owner", "admin", "member", "viewer")


class LoadWorld:
    """acme with one user per role; globex (another organization) with its own owner."""

    def __init__(self) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.acme = OrganizationFactory(slug=f"lt-acme-{suffix}", name="Acme")
        self.globex = OrganizationFactory(slug=f"lt-globex-{suffix}", name="Globex")
        self.users: dict[str, Any] = {}
        for role in ROLES:
            user = UserFactory(username=f"lt-{role}-{suffix}")
            MembershipFactory(user=user, organization=self.acme, role=role)
            self.users[role] = user
        self.other = UserFactory(username=f"lt-other-{suffix}")
        MembershipFactory(user=self.other, organization=self.globex, role=Role.OWNER)
        self.superuser = UserFactory(username=f"lt-root-{suffix}", is_superuser=True, is_staff=True)
        MembershipFactory(user=self.superuser, organization=self.acme, role=Role.OWNER)


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def _counts(samples_us: list[int], errors: dict[str, int], duration_s: float) -> dict[str, Any]:
    histogram = hdr.new_histogram()
    for value in samples_us:
        hdr.record_us(histogram, value)
    count = len(samples_us)
    return {
        "count": count,
        "errors": sum(errors.values()),
        "throughput": count / duration_s,
        "error_rate": sum(errors.values()) / count if count else 0.0,
        "latency_ms": hdr.summary_ms(histogram),
        "hist": hdr.encode(histogram),
    }


def make_report(
    *, seed: int = 1, slow_factor: float = 1.0, duration_s: int = 5, orgs: tuple[str, ...] = ("acme",)
) -> dict[str, Any]:
    """A merged report of ``duration_s`` seconds: two operations, per-org counts, a timeline."""
    rng = random.Random(seed)
    operations: dict[str, Any] = {}
    everything: list[int] = []
    timeline = []
    for label, base_ms, n, errors in (
        ("calculate", 4.0, 400, {"http_5xx": 2}),
        ("list", 2.0, 200, {}),
    ):
        samples = [int(rng.expovariate(1 / (base_ms * 1000 * slow_factor))) + 200 for _ in range(n)]
        operations[label] = {**_counts(samples, errors, duration_s), "samples": samples[:100]}
        everything += samples
    per_second = len(everything) // duration_s
    for t in range(duration_s):
        chunk = everything[t * per_second : (t + 1) * per_second]
        summary = hdr.summary_ms(_hist(chunk))
        timeline.append(
            {
                "t": t,
                "count": len(chunk),
                "errors": 1 if t < 2 else 0,
                "p50": summary["p50"],
                "p95": summary["p95"],
                "p99": summary["p99"],
            }
        )
    total = _counts(everything, {"http_5xx": 2}, duration_s)
    share = len(everything) // len(orgs)
    return {
        "requests": total["count"],
        "errors": 2,
        "duration_s": float(duration_s),
        "throughput": total["throughput"],
        "error_rate": total["error_rate"],
        "latency_ms": total["latency_ms"],
        "operations": operations,
        "orgs": {
            slug: _counts(everything[i * share : (i + 1) * share], {}, duration_s)
            for i, slug in enumerate(orgs)
        },
        "timeline": timeline,
        "errors_by_kind": {"http_5xx": 2},
        "shards": [
            {"index": 0, "worker": "host-a:101", "requests": 300},
            {"index": 1, "worker": "host-b:202", "requests": 300},
        ],
    }


def _hist(values: list[int]):
    histogram = hdr.new_histogram()
    for value in values:
        hdr.record_us(histogram, value)
    return histogram


def finished_run(org: Any, **kwargs: Any) -> LoadRun:
    """A completed run of ``smoke`` against the gateway with a report (``make_report(**report)``)."""
    report = kwargs.pop("report", None) or make_report(orgs=(org.slug,))
    defaults = {
        "organization": org,
        "profile_name": "smoke",
        "status": LoadRun.Status.COMPLETED,
        "report": report,
        "shards_total": 2,
        "shards_done": 2,
    }
    defaults.update(kwargs)
    return LoadRunFactory(**defaults)
