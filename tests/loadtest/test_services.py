"""create_run, cancel_run and release_credentials: profiles, permissions, bounds, the run's keys
(omni/loadtest/services.py, credentials.py, bounds.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from omni.loadtest.models import LoadRun, LoadShard
from omni.loadtest.services import RunRefused, cancel_run, create_run, release_credentials
from omni.tenants.models import ApiKey, Role
from omni.tenants.services import add_member, authenticate_api_key
from tests.factories import LoadProfileFactory, MembershipFactory
from tests.loadtest import services_world
from tests.loadtest.services_world import TINY

world = services_world.world


def refused(*args, **kwargs) -> str:
    with pytest.raises(RunRefused) as info:
        create_run(*args, **kwargs)
    return str(info.value)


def raw_key_of(shard: LoadShard) -> str:
    (endpoint,) = shard.spec["endpoints"]
    return endpoint["headers"]["Authorization"].removeprefix("Bearer ")


def run_key(run: LoadRun, org=None) -> ApiKey:
    (key,) = ApiKey.objects.for_org(org or run.organization).filter(name=f"loadtest run {run.uuid}")
    return key


# --------------------------------------------------------------------------- profiles
def test_a_shipped_profile_through_the_gateway(world, settings):
    settings.LOADTEST_GATEWAY_URL = "http://gateway.test:8000"
    run = create_run(world.org, "smoke", user=world.admin)
    assert (run.profile_name, run.target, run.status, run.trigger) == ("smoke", "gateway", "queued", "ui")
    assert run.spec["duration_s"] == 3.0 and run.created_by == world.admin and not run.raised_limits
    (shard,) = LoadShard.objects.for_org(world.org).filter(run=run)
    assert shard.spec["endpoints"][0]["url"] == "http://gateway.test:8000/mcp"
    assert run.shards_total == 1


def test_the_organizations_own_profile_a_shipped_one_or_yaml_text(world):
    stored = LoadProfileFactory(
        organization=world.org, name="mine", source=TINY.replace("users: 3", "users: 1")
    )
    run = create_run(world.org, "mine", user=world.admin, base_url="http://127.0.0.1:9")
    assert run.profile == stored and run.profile_name == "mine" and run.spec["arrival"]["users"] == 1
    run.status = LoadRun.Status.COMPLETED
    run.save()
    run = create_run(world.org, TINY, user=world.admin, base_url="http://127.0.0.1:9")
    assert run.profile is None and run.profile_name == "tiny"
    # another organization's profile of that name is not this one's
    LoadProfileFactory(organization=world.other, name="theirs", source=TINY)
    assert "no load profile called 'theirs'" in refused(world.org, "theirs", user=world.admin)


def test_an_invalid_profile_is_refused_with_its_messages(world):
    with pytest.raises(RunRefused) as info:
        create_run(world.org, TINY.replace("users: 3", "users: 0"), user=world.admin)
    assert info.value.messages == ["line 5, arrival.users: 0 is less than the minimum of 1"]
    assert "line 5, arrival.users" in str(info.value)
    assert not LoadRun.objects.for_org(world.org).exists()


# --------------------------------------------------------------------------- who may start a run
def test_only_admins_of_the_organization_start_runs(world):
    assert "only admins of organization" in refused(world.org, TINY, user=world.member)
    assert "only admins of organization" in refused(world.other, TINY, user=world.admin)
    assert create_run(world.org, TINY, user=world.admin).created_by == world.admin


def _multi(*slugs: str) -> str:
    orgs = "".join(f"  - {{org: {slug}, weight: {i + 1}}}\n" for i, slug in enumerate(slugs))
    return TINY + "organizations:\n" + orgs


def test_a_multi_tenant_profile_loads_only_organizations_the_user_administers(world, settings):
    settings.LOADTEST_MAX_CONCURRENT_RUNS = 10
    profile = _multi(world.org.slug, world.other.slug)
    message = refused(world.org, profile, user=world.admin)
    assert f"loads organization {world.other.slug}, which you do not administer" in message
    MembershipFactory(organization=world.other, user=world.admin, role=Role.MEMBER)
    assert "which you do not administer" in refused(world.org, profile, user=world.admin)
    add_member(world.other, world.admin, Role.OWNER)
    run = create_run(world.org, profile, user=world.admin)
    # one key per organization, each in its own organization
    assert run_key(run, world.org).organization == world.org
    assert run_key(run, world.other).organization == world.other
    # a superuser and the command may load any organization; the schedule may not
    assert create_run(world.org, profile, user=world.operator).organization == world.org
    assert create_run(world.org, profile, trigger="command").trigger == "command"
    assert "only a platform operator" in refused(world.org, profile, trigger="schedule")
    assert "do not exist: nowhere-1" in refused(
        world.org, _multi(world.org.slug, "nowhere-1"), user=world.operator
    )


# --------------------------------------------------------------------------- bounds
@pytest.mark.parametrize(
    ("change", "setting", "value", "name", "asked"),
    [
        ({"users: 3": "users: 9"}, "LOADTEST_MAX_USERS", 5, "max_users", "9 virtual users"),
        (
            {"{model: closed, users: 3}": "{model: open, rate: 10, shape: ramp, rate_to: 80}"},
            "LOADTEST_MAX_RATE",
            50.0,
            "max_rate",
            "80 requests per second",
        ),
        (
            {"duration: 2s": "duration: 50s\nwarmup: 20s"},
            "LOADTEST_MAX_DURATION_S",
            60.0,
            "max_duration_s",
            "70 seconds",
        ),
        ({"duration: 2s": "duration: 2s\nshards: 3"}, "LOADTEST_MAX_SHARDS", 2, "max_shards", "3 shards"),
    ],
)
def test_a_run_over_a_bound_is_refused_naming_the_bound_and_its_setting(
    world, settings, change, setting, value, name, asked
):
    setattr(settings, setting, value)
    profile = TINY
    for old, new in change.items():
        profile = profile.replace(old, new)
    message = refused(world.org, profile, user=world.admin)
    assert f"asks for {asked}" in message and f"({name}, setting {setting})" in message
    assert world.org.slug in message
    assert not LoadRun.objects.for_org(world.org).exists()
    # a platform operator lifts it for one run; an organization admin cannot
    assert "only a platform operator" in refused(world.org, profile, user=world.admin, raise_limits=True)
    run = create_run(world.org, profile, user=world.operator, raise_limits=True)
    assert run.raised_limits
    # and so does the command (no user), explicitly
    assert create_run(world.org, profile, trigger="command", raise_limits=True).raised_limits
    assert "only a platform operator" in refused(world.org, profile, trigger="schedule", raise_limits=True)


def test_runs_at_the_same_time_are_bounded_per_organization(world, settings):
    settings.LOADTEST_MAX_CONCURRENT_RUNS = 1
    first = create_run(world.org, TINY, user=world.admin)
    message = refused(world.org, TINY, user=world.admin)
    assert "2 load runs at the same time" in message and "LOADTEST_MAX_CONCURRENT_RUNS" in message
    assert create_run(world.other, TINY, user=world.operator).organization == world.other  # per organization
    first.status = LoadRun.Status.COMPLETED
    first.save()
    assert create_run(world.org, TINY, user=world.admin).status == "queued"


def test_an_organization_can_have_bounds_of_its_own(world, settings):
    settings.LOADTEST_MAX_USERS = 5
    world.org.settings = {"loadtest": {"max_users": 20}}
    world.org.save()
    assert (
        create_run(world.org, TINY.replace("users: 3", "users: 20"), user=world.admin).spec["arrival"][
            "users"
        ]
        == 20
    )
    assert "bound for organization" in refused(
        world.other, TINY.replace("users: 3", "users: 20"), user=world.operator
    )


def test_shards_can_be_given_per_run_within_the_bound(world, settings):
    settings.LOADTEST_MAX_SHARDS = 2
    assert "3 shards" in refused(world.org, TINY, user=world.admin, shards=3)
    run = create_run(world.org, TINY, user=world.admin, shards=2)
    assert LoadShard.objects.for_org(world.org).filter(run=run).count() == 2


# --------------------------------------------------------------------------- the run's keys
def test_the_run_gets_a_short_lived_key_with_only_the_scopes_its_operations_need(world, settings):
    settings.LOADTEST_KEY_GRACE_S = 600
    before = timezone.now()
    run = create_run(world.org, TINY, user=world.admin)
    key = run_key(run)
    assert key.scopes == ["tools:call"] and not key.rate_limit_exempt
    assert before + timedelta(seconds=601) <= key.expires_at <= timezone.now() + timedelta(seconds=603)
    (shard,) = LoadShard.objects.for_org(world.org).filter(run=run)
    ctx = authenticate_api_key(raw_key_of(shard))
    assert ctx is not None and ctx.organization == world.org and ctx.api_key == key
    release_credentials(run)
    assert authenticate_api_key(raw_key_of(shard)) is None
    key.refresh_from_db()
    assert key.is_revoked
    release_credentials(run)  # idempotent


@pytest.mark.parametrize(
    ("operations", "scopes"),
    [
        ("  - prompts/list\n", ["prompts:read"]),
        ("  - {resource: 'memo://x'}\n  - {prompt: greet}\n", ["prompts:read", "resources:read"]),
        (
            "  - scenario: [{operation: resources/list}, {operation: tools/call, params: {name: a}}]\n",
            ["resources:read", "tools:call"],
        ),
    ],
)
def test_key_scopes_follow_the_operations(world, operations, scopes):
    profile = TINY.replace(
        '  - tools/list\n  - {tool: utilities__calculate, arguments: {expression: "1+1"}}\n', operations
    )
    run = create_run(world.org, profile, user=world.admin)
    assert run_key(run).scopes == scopes


def test_the_raw_key_is_only_in_the_shard_spec_encrypted_at_rest(world):
    from django.db import connection

    run = create_run(world.org, TINY, user=world.admin)
    (shard,) = LoadShard.objects.for_org(world.org).filter(run=run)
    raw = raw_key_of(shard)
    with connection.cursor() as cursor:
        cursor.execute("SELECT spec FROM loadtest_loadshard WHERE id = %s", [shard.pk])
        stored = str(cursor.fetchone()[0])
    assert raw not in stored and raw[:13] not in stored
    assert raw not in str(LoadRun.objects.get(pk=run.pk).spec)


def test_lifted_limits_make_the_runs_keys_exempt_from_rate_limits(world):
    run = create_run(world.org, TINY, user=world.operator, raise_limits=True)
    assert run_key(run).rate_limit_exempt


# --------------------------------------------------------------------------- cancel
def test_cancelling_a_run_that_has_not_started_finishes_it_and_revokes_its_keys(
    world, django_capture_on_commit_callbacks
):
    run = create_run(world.org, TINY, user=world.admin, shards=2)
    with django_capture_on_commit_callbacks(execute=True):
        cancel_run(run)
    run.refresh_from_db()
    assert run.cancel_requested and run.status == "cancelled" and run.finished_at is not None
    shards = LoadShard.objects.for_org(world.org).filter(run=run)
    assert {s.status for s in shards} == {"cancelled"}
    assert run_key(run).is_revoked


def test_cancelling_a_running_run_flags_it_and_cancels_only_the_shards_not_started(world):
    run = create_run(world.org, TINY, user=world.admin, shards=2)
    LoadRun.objects.filter(pk=run.pk).update(status=LoadRun.Status.RUNNING)
    first = LoadShard.objects.for_org(world.org).get(run=run, index=0)
    first.status = LoadShard.Status.RUNNING
    first.save()
    cancel_run(run)
    run.refresh_from_db()
    assert run.cancel_requested and run.status == "running"
    statuses = dict(LoadShard.objects.for_org(world.org).filter(run=run).values_list("index", "status"))
    assert statuses == {0: "running", 1: "queued"}
    from omni.loadtest.execution import _claim

    queued = LoadShard.objects.for_org(world.org).get(run=run, index=1)
    assert _claim(queued.pk) == "cancelled"  # a worker that takes it skips it
    assert not run_key(run).is_revoked  # the running shard still measures until it sees the flag


# --------------------------------------------------------------------------- stored profiles
def test_save_profile_validates_and_takes_name_title_and_schedule_from_the_yaml(world):
    from omni.loadtest.profiles import ProfileError
    from omni.loadtest.services import save_profile

    source = TINY.replace("name: tiny", "name: nightly\ntitle: Nightly run") + "schedule: '30 2 * * *'\n"
    profile = save_profile(world.org, source, user=world.admin)
    assert (profile.name, profile.title, profile.schedule, profile.created_by) == (
        "nightly",
        "Nightly run",
        "30 2 * * *",
        world.admin,
    )
    with pytest.raises(ProfileError) as info:
        save_profile(world.org, source)
    assert info.value.messages == ["line 1, name: this organization already has a profile called 'nightly'"]
    assert save_profile(world.other, source).organization == world.other  # per organization
    changed = save_profile(world.org, source.replace("users: 3", "users: 4"), instance=profile)
    assert changed.pk == profile.pk and "users: 4" in changed.source
    with pytest.raises(ProfileError) as info:
        save_profile(world.org, source.replace("users: 3", "users: -4"), instance=profile)
    assert info.value.messages[0].startswith("line 6, arrival.users")
    profile.refresh_from_db()
    assert "users: 4" in profile.source  # an invalid change leaves the stored profile alone
    # a stored profile wins over a shipped one of the same name
    save_profile(world.org, TINY.replace("name: tiny", "name: smoke"))
    assert create_run(world.org, "smoke", user=world.admin).spec["duration_s"] == 2.0


def test_the_profiles_own_target_is_kept_unless_the_caller_overrides_it(world, settings):
    settings.LOADTEST_MAX_CONCURRENT_RUNS = 10
    profile = TINY + "target: server:utilities\n"
    assert create_run(world.org, profile, user=world.admin).target == "server:utilities"
    assert create_run(world.org, profile, user=world.admin, target="gateway").target == "gateway"


def test_a_session_mode_run_that_would_exceed_the_gateways_quotas_is_refused(world, settings):
    settings.MCP_QUOTA_DEFAULTS = {**settings.MCP_QUOTA_DEFAULTS, "sessions_per_key": 5, "streams_per_key": 2}
    settings.LOADTEST_MAX_CONCURRENT_RUNS = 10
    handshake = TINY.replace("users: 3", "users: 6") + "mode: handshake\n"
    message = refused(world.org, handshake, user=world.operator, raise_limits=True)
    assert "sessions_per_key quota of 5 (setting MCP_QUOTA_SESSIONS_PER_KEY" in message
    assert (
        create_run(world.org, handshake.replace("users: 6", "users: 5"), user=world.admin).spec["mode"]
        == "handshake"
    )
    sse = TINY + "mode: sse\n"
    assert "streams_per_key quota of 2" in refused(world.org, sse, user=world.admin)
    world.org.settings = {"quotas": {"streams_per_key": 3}}
    world.org.save()
    assert create_run(world.org, sse, user=world.admin).spec["mode"] == "sse"
    # single exchange holds neither; a server target does not go through the gateway
    assert (
        create_run(world.org, TINY.replace("users: 3", "users: 9"), user=world.admin).spec["mode"]
        == "2026-07-28"
    )
    assert (
        create_run(world.org, handshake, user=world.admin, target="server:utilities").target
        == "server:utilities"
    )


def test_list_profiles_gives_the_organizations_own_then_the_shipped_ones(world):
    from omni.loadtest.services import list_profiles, save_profile

    save_profile(world.org, TINY.replace("name: tiny", "name: smoke\ntitle: Our smoke"))
    LoadProfileFactory(organization=world.org, name="broken", source="name: broken\n")  # stored unchecked
    entries = {e["name"]: e for e in list_profiles(world.org)}
    assert entries["smoke"]["kind"] == "organization" and entries["smoke"]["title"] == "Our smoke"
    assert entries["broken"]["errors"] and entries["broken"]["kind"] == "organization"
    assert entries["baseline"]["kind"] == "shipped" and entries["baseline"]["schedule"] == "0 3 * * *"
    assert [e["kind"] for e in list_profiles(world.org)][:2] == ["organization", "organization"]
    assert {e["name"] for e in list_profiles(world.other)} >= {"smoke", "baseline", "stress", "multi-tenant"}
    assert all(e["kind"] == "shipped" for e in list_profiles(world.other))
