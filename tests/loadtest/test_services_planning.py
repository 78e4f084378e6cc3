"""plan_shards: one set of shards per phase, the load split exactly, seeds per shard, endpoints
weighted per organization (omni/loadtest/planning.py)."""

from __future__ import annotations

import math

import pytest

from omni.loadtest.models import LoadShard
from omni.loadtest.planning import shard_count, shard_seed, split_arrival, split_int
from omni.loadtest.services import create_run
from omni.tenants.services import add_member
from tests.loadtest import services_world
from tests.loadtest.services_world import TINY

world = services_world.world


def shards_of(run, phase: str = "main") -> list[LoadShard]:
    return list(LoadShard.objects.for_org(run.organization).filter(run=run, phase=phase).order_by("index"))


@pytest.mark.parametrize(
    ("total", "parts", "expected"),
    [(7, 3, [3, 2, 2]), (6, 3, [2, 2, 2]), (1, 1, [1]), (10, 4, [3, 3, 2, 2]), (1000, 7, [143] * 6 + [142])],
)
def test_split_int_spreads_the_remainder_over_the_first_parts(total, parts, expected):
    assert split_int(total, parts) == expected and sum(expected) == total


def test_a_shard_never_gets_zero_users():
    profile = {"shards": 5, "arrival": {"model": "closed", "users": 3, "think_ms": 0.0}}
    assert shard_count(profile) == 3
    assert [a["users"] for a in split_arrival(profile["arrival"], 3)] == [1, 1, 1]
    assert shard_count({"shards": 5, "arrival": {"model": "open", "rate": 1.0}}) == 5


def test_open_rates_are_divided_so_that_they_add_up():
    arrival = {
        "model": "open",
        "rate": 50.0,
        "shape": "step",
        "steps": [[10.0, 70.0], [20.0, 100.0]],
        "max_in_flight": 10,
    }
    shares = split_arrival(arrival, 3)
    assert math.fsum(s["rate"] for s in shares) == pytest.approx(50.0, abs=1e-9)
    for step in range(2):
        assert [s["steps"][step][0] for s in shares] == [arrival["steps"][step][0]] * 3
        assert math.fsum(s["steps"][step][1] for s in shares) == pytest.approx(arrival["steps"][step][1])
    assert [s["max_in_flight"] for s in shares] == [4, 3, 3]
    ramp = split_arrival({"model": "open", "rate": 9.0, "shape": "ramp", "rate_to": 30.0}, 2)
    assert [s["rate_to"] for s in ramp] == [15.0, 15.0] and [s["rate"] for s in ramp] == [4.5, 4.5]
    spike = split_arrival({"model": "open", "rate": 4.0, "shape": "spike", "spike_rate": 40.0}, 4)
    assert [s["spike_rate"] for s in spike] == [10.0] * 4


def test_shards_of_a_closed_run_split_users_exactly_with_their_own_seeds(world):
    run = create_run(
        world.org,
        TINY.replace("users: 3", "users: 11") + "shards: 4\nseed: 7\nsamples: 1000\n",
        user=world.admin,
    )
    shards = shards_of(run)
    assert [s.index for s in shards] == [0, 1, 2, 3] and run.shards_total == 4
    assert [s.spec["arrival"]["users"] for s in shards] == [3, 3, 3, 2]
    assert len({s.spec["seed"] for s in shards}) == 4
    assert [s.spec["seed"] for s in shards] == [shard_seed(7, i) for i in range(4)]
    assert {s.spec["samples"] for s in shards} == {250}
    for shard in shards:
        spec = shard.spec
        assert (spec["run"], spec["phase"], spec["shards"], spec["mode"]) == (
            str(run.uuid),
            "main",
            4,
            "2026-07-28",
        )
        assert spec["operations"] == run.spec["operations"]
        assert (spec["warmup_s"], spec["duration_s"], spec["timeout_s"]) == (0.0, 2.0, 10.0)
        assert shard.organization == world.org and shard.status == "queued"
    # all shards send with the run's one key
    assert len({s.spec["endpoints"][0]["headers"]["Authorization"] for s in shards}) == 1


def test_fewer_users_than_shards_gives_fewer_shards(world):
    run = create_run(world.org, TINY.replace("users: 3", "users: 2") + "shards: 5\n", user=world.admin)
    assert [s.spec["arrival"]["users"] for s in shards_of(run)] == [1, 1] and run.shards_total == 2


def test_a_direct_server_adds_a_phase_that_replays_the_same_seeds(world):
    run = create_run(world.org, TINY + "direct: utilities\nshards: 2\nmode: handshake\n", user=world.admin)
    main, direct = shards_of(run, "main"), shards_of(run, "direct")
    assert len(main) == len(direct) == 2 and run.shards_total == 4
    assert [s.spec["seed"] for s in main] == [s.spec["seed"] for s in direct]
    assert [s.spec["arrival"] for s in main] == [s.spec["arrival"] for s in direct]
    assert main[0].spec["endpoints"][0]["url"].endswith("/mcp")
    assert direct[0].spec["endpoints"][0]["inprocess_server"] == "utilities"
    assert {s.spec["phase"] for s in direct} == {"direct"}
    assert {s.spec["revision"] for s in main + direct} == {"2025-11-25"}


def test_multi_tenant_endpoints_are_weighted_per_organization_with_a_key_each(world):
    add_member(world.other, world.admin, "admin")
    profile = (
        TINY.replace("{model: closed, users: 3}", "{model: open, rate: 30}")
        + "shards: 3\norganizations:\n"
        + f"  - {{org: {world.org.slug}, weight: 10}}\n  - {{org: {world.other.slug}}}\n"
    )
    run = create_run(world.org, profile, user=world.admin)
    shards = shards_of(run)
    assert [s.spec["arrival"]["rate"] for s in shards] == [10.0, 10.0, 10.0]
    for shard in shards:
        assert [(e["org"], e["weight"]) for e in shard.spec["endpoints"]] == [
            (world.org.slug, 10.0),
            (world.other.slug, 1.0),
        ]
    keys = [e["headers"]["Authorization"] for e in shards[0].spec["endpoints"]]
    assert len(set(keys)) == 2
    from omni.tenants.services import authenticate_api_key

    orgs = [authenticate_api_key(k.removeprefix("Bearer ")).organization for k in keys]
    assert orgs == [world.org, world.other]


def test_the_server_alone_is_sent_its_own_tool_names(world):
    """The gateway namespaces a server's tools (utilities__calculate); the server measured
    directly knows them as "calculate", in scenario steps too."""
    source = TINY.replace(
        "operations:\n",
        "operations:\n  - {tool: utilities__calculate, arguments: {expression: '1+1'}}\n"
        "  - scenario:\n"
        "      - {operation: tools/call, params: {name: utilities__generate_uuid, arguments: {}}}\n",
        1,
    )
    run = create_run(world.org, source + "direct: utilities\n", user=world.admin)
    (main,), (direct,) = shards_of(run, "main"), shards_of(run, "direct")
    names = [op.get("name") for op in main.spec["operations"]]
    assert "utilities__calculate" in names
    assert "calculate" in [op.get("name") for op in direct.spec["operations"]]
    (scenario,) = [op for op in direct.spec["operations"] if op["kind"] == "scenario"]
    assert scenario["steps"][0]["params"]["name"] == "generate_uuid"
