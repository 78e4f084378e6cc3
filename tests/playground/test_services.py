"""Services: running and storing test runs, history filters, tenancy, diff and re-run."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils import timezone

from omni.playground import services
from omni.playground.models import TestRun
from omni.tenants.services import resolve_user_context
from tests.playground.conftest import make_run

CALC = {"name": "utilities__calculate", "arguments": {"expression": "6*7"}}


@pytest.fixture
def owner_ctx(lab):
    return resolve_user_context(lab.owner, lab.slug)


def test_a_run_is_stored_with_everything(lab, owner_ctx):
    run, result = services.run_and_record(owner_ctx, "tools/call", CALC, user=lab.owner, source="api")
    run.refresh_from_db()
    assert run.organization == lab.acme.org and run.user == lab.owner and run.username == lab.owner.username
    assert (run.source, run.operation, run.target, run.outcome) == (
        "api",
        "tools/call",
        "utilities__calculate",
        "ok",
    )
    assert run.request == {"jsonrpc": "2.0", "method": "tools/call", "params": CALC, "protocol": "2026-07-28"}
    assert run.response["structuredContent"]["result"] == 42
    assert run.duration_ms == result.duration_ms > 0
    assert run.validation["output_schema"]["valid"] is True and run.error == ""
    assert run.public_id and str(run.public_id) != str(run.pk)


def test_a_tool_error_is_stored_as_an_error_with_its_text(lab, owner_ctx):
    run, _ = services.run_and_record(
        owner_ctx,
        "tools/call",
        {"name": "utilities__calculate", "arguments": {}},
        user=lab.owner,
        source="api",
    )
    assert run.outcome == "error" and "Invalid arguments" in run.error


def test_the_username_outlives_the_user(lab, owner_ctx):
    run, _ = services.run_and_record(owner_ctx, "prompts/list", {}, user=lab.owner, source="playground")
    lab.owner.delete()
    run.refresh_from_db()
    assert run.user is None and run.username.startswith("owner-")


def test_large_responses_are_stored_as_a_preview(lab, owner_ctx, settings):
    settings.PLAYGROUND_MAX_STORED_BYTES = 1024
    run, result = services.run_and_record(owner_ctx, "tools/list", {}, user=lab.owner, source="api")
    run.refresh_from_db()
    assert run.response["_truncated"] is True and run.response["size"] > 1024
    assert len(run.response["preview"]) <= 1024
    assert len(result.response["tools"]) == 22  # the caller still gets the whole answer


def test_check_allowed_follows_the_role_matrix(lab):
    viewer = resolve_user_context(lab.viewer, lab.slug)
    member = resolve_user_context(lab.member, lab.slug)
    for operation, params in [
        ("tools/list", {}),
        ("prompts/get", {"name": "greet"}),
        ("resources/read", {"uri": "memo://acme/readme"}),
        ("ping", {}),
        ("jsonrpc", {"method": "prompts/list", "params": None}),
    ]:
        services.check_allowed(viewer, operation, params)
    for operation, params in [
        ("tools/call", CALC),
        ("jsonrpc", {"method": "tools/call", "params": CALC}),
        ("jsonrpc", {"method": "vendor/unknown", "params": None}),  # unknown methods need the call right
    ]:
        with pytest.raises(PermissionDenied):
            services.check_allowed(viewer, operation, params)
        services.check_allowed(member, operation, params)


def test_filters_and_isolation(lab, owner_ctx):
    org = lab.acme.org
    now = timezone.now()
    a = make_run(org, username="ann", created_at=now - timedelta(days=3))
    b = make_run(org, username="bob", outcome="error", target="knowledge__get_note")
    c = make_run(org, operation="prompts/get", target="greet", source="api")
    make_run(lab.globex.org, username="ann")  # another organization's run

    def ids(**filters):
        return {r.pk for r in services.filter_runs(owner_ctx, services.RunFilters(**filters))}

    assert ids() == {a.pk, b.pk, c.pk}
    assert ids(username="ann") == {a.pk}
    assert ids(outcome="error") == {b.pk}
    assert ids(operation="prompts/get") == {c.pk}
    assert ids(source="api") == {c.pk}
    assert ids(target="get_note") == {b.pk}
    assert ids(since=now - timedelta(days=1)) == {b.pk, c.pk}
    assert ids(until=now - timedelta(days=1)) == {a.pk}
    assert services.usernames(owner_ctx) == ["ann", "bob", "someone"]


def test_another_organizations_run_is_404(lab, owner_ctx):
    foreign = make_run(lab.globex.org)
    with pytest.raises(Http404):
        services.get_run(owner_ctx, foreign.public_id)
    own = make_run(lab.acme.org)
    assert services.get_run(owner_ctx, own.public_id) == own


def test_diff_is_side_by_side(lab):
    left = make_run(lab.acme.org, response={"structuredContent": {"result": 2}, "content": []})
    right = make_run(
        lab.acme.org, response={"structuredContent": {"result": 3}, "content": []}, outcome="error"
    )
    rows = services.diff_runs(left, right)
    changed = [row for row in rows if row.kind == "changed"]
    assert any('"result": 2' in row.left and '"result": 3' in row.right for row in changed)
    assert any('"outcome": "ok"' in row.left and '"outcome": "error"' in row.right for row in changed)
    equal = [row for row in rows if row.kind == "equal"]
    assert equal and all(row.left == row.right for row in equal)
    assert [row.left_no for row in rows if row.left_no] == list(
        range(1, len(services.comparable(left).splitlines()) + 1)
    )
    same = services.diff_runs(left, left)
    assert all(row.kind == "equal" for row in same)


def test_diff_added_and_removed_lines(lab):
    left = make_run(lab.acme.org, response={"a": 1})
    right = make_run(lab.acme.org, response={"a": 1, "b": 2, "c": 3})
    kinds = {row.kind for row in services.diff_runs(left, right)}
    assert "added" in kinds
    assert "removed" in {row.kind for row in services.diff_runs(right, left)}


def test_rerun_runs_the_same_request_again(lab, owner_ctx):
    first, _ = services.run_and_record(owner_ctx, "tools/call", CALC, user=lab.owner, source="api")
    again = services.rerun(owner_ctx, first, user=lab.admin)
    assert again.pk != first.pk and again.request == first.request
    assert again.response["structuredContent"] == first.response["structuredContent"]
    assert again.username == lab.admin.username and again.source == "playground"


def test_rerun_keeps_the_protocol_era_and_the_raw_method(lab, owner_ctx):
    ping, _ = services.run_and_record(owner_ctx, "ping", {}, user=lab.owner, source="api")
    assert ping.request["protocol"] == "2025-11-25"
    assert services.rerun(owner_ctx, ping, user=lab.owner).outcome == "ok"
    raw, _ = services.run_and_record(
        owner_ctx,
        "jsonrpc",
        {"method": "prompts/get", "params": {"name": "greet", "arguments": {"who": "Al"}}},
        user=lab.owner,
        source="api",
    )
    again = services.rerun(owner_ctx, raw, user=lab.owner)
    assert again.operation == "jsonrpc" and again.target == "prompts/get" and again.outcome == "ok"


def test_a_viewer_may_not_rerun_a_tool_call(lab, owner_ctx):
    run, _ = services.run_and_record(owner_ctx, "tools/call", CALC, user=lab.owner, source="api")
    viewer = resolve_user_context(lab.viewer, lab.slug)
    count = TestRun.objects.for_org(owner_ctx).count()
    with pytest.raises(PermissionDenied):
        services.rerun(viewer, run, user=lab.viewer)
    assert TestRun.objects.for_org(owner_ctx).count() == count
