"""The playground pages: permissions (login, 404 for outsiders, 403 for lower roles), the
playground shell, history filters and pagination, run detail, re-run, diff and analytics."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from omni.playground.models import TestRun
from tests.playground.conftest import make_run, reset_mcp_counters

XSS = "<script>alert(1)</script>"


def _login(client, user):
    client.force_login(user)
    return client


def _pages(lab, run):
    base = f"/o/{lab.slug}"
    return [
        f"{base}/playground/",
        f"{base}/history/",
        f"{base}/history/{run.public_id}/",
        f"{base}/history/diff/?a={run.public_id}&b={make_run(lab.acme.org).public_id}",
        f"{base}/analytics/",
    ]


def test_anonymous_users_are_sent_to_log_in(client, lab):
    run = make_run(lab.acme.org)
    for url in _pages(lab, run):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url


@pytest.mark.parametrize("who", ["outsider", "superuser"])
def test_outsiders_get_404_on_every_page(client, lab, who):
    run = make_run(lab.acme.org)
    _login(client, getattr(lab, who))
    for url in [*_pages(lab, run), f"/o/{lab.slug}/history/{run.public_id}/rerun/"]:
        method = client.post if url.endswith("/rerun/") else client.get
        assert method(url).status_code == 404, url


@pytest.mark.parametrize("who", ["owner", "admin", "member", "viewer"])
def test_every_member_may_read_every_page(client, lab, who):
    run = make_run(lab.acme.org)
    _login(client, getattr(lab, who))
    for url in _pages(lab, run):
        assert client.get(url).status_code == 200, url


def test_playground_shell(client, lab):
    _login(client, lab.member)
    html = client.get(f"/o/{lab.slug}/playground/").content.decode()
    assert f'data-ws-path="/ws/playground/{lab.slug}/"' in html
    assert 'data-can-call="true"' in html
    assert "/static/js/playground.js" in html and "/static/playground/playground.css" in html
    assert html.index("/static/playground/schema_form.js") < html.index("/static/js/playground.js")
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", html)
    assert all('type="application/json"' in attrs for attrs in inline)  # no inline code (CSP)
    _login(client, lab.viewer)
    viewer = client.get(f"/o/{lab.slug}/playground/").content.decode()
    assert 'data-can-call="false"' in viewer and "may list tools but not call them" in viewer


def test_playground_reopens_a_stored_run(client, lab):
    run = make_run(lab.acme.org)
    foreign = make_run(lab.globex.org)
    _login(client, lab.owner)
    html = client.get(f"/o/{lab.slug}/playground/?run={run.public_id}").content.decode()
    prefill = json.loads(
        re.search(r'<script id="pg-prefill" type="application/json">(.*?)</script>', html).group(1)
    )
    assert prefill == {"operation": "tools/call", "request": run.request}
    for bad in (foreign.public_id, "not-a-uuid"):
        html = client.get(f"/o/{lab.slug}/playground/?run={bad}").content.decode()
        assert '<script id="pg-prefill" type="application/json">null</script>' in html


def test_history_lists_only_this_organizations_runs_escaped(client, lab):
    mine = make_run(lab.acme.org, target=XSS)
    theirs = make_run(lab.globex.org, target="globex-secret-tool")
    _login(client, lab.viewer)
    html = client.get(f"/o/{lab.slug}/history/").content.decode()
    assert str(mine.public_id) in html and str(theirs.public_id) not in html
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_history_filters(client, lab):
    org = lab.acme.org
    now = timezone.now()
    old = make_run(org, username="ann", created_at=now - timedelta(days=10))
    failed = make_run(org, username="bob", outcome="error", target="knowledge__get_note")
    prompt = make_run(org, username="ann", operation="prompts/get", target="greet", source="api")
    _login(client, lab.owner)

    def shown(query):
        html = client.get(f"/o/{lab.slug}/history/?{query}").content.decode()
        return {run for run in (old, failed, prompt) if str(run.public_id) in html}

    assert shown("") == {old, failed, prompt}
    assert shown("outcome=error") == {failed}
    assert shown("operation=prompts%2Fget") == {prompt}
    assert shown("user=ann") == {old, prompt}
    assert shown("tool=get_note") == {failed}
    assert shown("source=api") == {prompt}
    today = now.date().isoformat()
    assert shown(f"since={today}&until={today}") == {failed, prompt}
    assert shown(f"until={(now - timedelta(days=5)).date().isoformat()}") == {old}


def test_history_rejects_bad_filters_inline(client, lab):
    make_run(lab.acme.org)
    _login(client, lab.owner)
    response = client.get(f"/o/{lab.slug}/history/?since=2026-02-10&until=2026-02-01&outcome=weird")
    assert response.status_code == 400
    html = response.content.decode()
    assert "The end date is before the start date." in html
    assert "Select a valid choice." in html and "No test runs match these filters" in html


def test_history_pagination_and_htmx_fragment(client, lab):
    for i in range(30):
        make_run(lab.acme.org, target=f"tool-{i:02d}")
    _login(client, lab.owner)
    first = client.get(f"/o/{lab.slug}/history/?operation=tools%2Fcall").content.decode()
    assert "Page 1 of 2" in first and "tool-29" in first and "tool-04" not in first
    assert "?operation=tools%2Fcall&amp;page=2" in first
    second = client.get(f"/o/{lab.slug}/history/?operation=tools%2Fcall&page=2").content.decode()
    assert "tool-04" in second and "tool-29" not in second
    fragment = client.get(f"/o/{lab.slug}/history/?page=2", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in fragment and 'id="compare-form"' in fragment


def test_run_detail(client, lab):
    run = make_run(
        lab.acme.org,
        error="boom <b>",
        outcome="error",
        events=[{"type": "progress", "progress": 1, "total": 2, "message": "half", "at_ms": 3.5}],
    )
    _login(client, lab.member)
    html = client.get(f"/o/{lab.slug}/history/{run.public_id}/").content.decode()
    assert "utilities__calculate" in html and "boom &lt;b&gt;" in html and "half" in html
    assert "Re-run and compare" in html and f"?run={run.public_id}" in html
    _login(client, lab.viewer)
    viewer = client.get(f"/o/{lab.slug}/history/{run.public_id}/").content.decode()
    assert "Re-run and compare" not in viewer  # a viewer may not call tools
    foreign = make_run(lab.globex.org)
    assert client.get(f"/o/{lab.slug}/history/{foreign.public_id}/").status_code == 404


def test_rerun_redirects_to_a_comparison(client, lab):
    run = make_run(
        lab.acme.org,
        request={
            "jsonrpc": "2.0",
            "method": "tools/call",
            "params": {"name": "utilities__calculate", "arguments": {"expression": "6*7"}},
            "protocol": "2026-07-28",
        },
    )
    _login(client, lab.member)
    response = client.post(f"/o/{lab.slug}/history/{run.public_id}/rerun/")
    assert response.status_code == 302
    new_run = TestRun.objects.for_org(lab.acme.org).exclude(pk=run.pk).latest("created_at")
    assert response["Location"] == f"/o/{lab.slug}/history/diff/?a={run.public_id}&b={new_run.public_id}"
    assert new_run.response["structuredContent"]["result"] == 42 and new_run.username == lab.member.username
    diff = client.get(response["Location"]).content.decode()
    assert "diff-changed" in diff and "&quot;result&quot;: 42" in diff and "&quot;result&quot;: 2" in diff


def test_rerun_permissions_and_methods(client, lab):
    call = make_run(lab.acme.org)
    prompt = make_run(
        lab.acme.org,
        operation="prompts/get",
        target="greet",
        request={
            "jsonrpc": "2.0",
            "method": "prompts/get",
            "params": {"name": "greet", "arguments": {"who": "Al"}},
            "protocol": "2026-07-28",
        },
    )
    _login(client, lab.viewer)
    count = TestRun.objects.for_org(lab.acme.org).count()
    assert client.post(f"/o/{lab.slug}/history/{call.public_id}/rerun/").status_code == 403
    assert TestRun.objects.for_org(lab.acme.org).count() == count
    assert client.get(f"/o/{lab.slug}/history/{prompt.public_id}/rerun/").status_code == 405
    htmx = client.post(f"/o/{lab.slug}/history/{prompt.public_id}/rerun/", HTTP_HX_REQUEST="true")
    assert htmx.status_code == 204 and htmx["HX-Redirect"].startswith(f"/o/{lab.slug}/history/diff/?a=")
    assert TestRun.objects.for_org(lab.acme.org).count() == count + 1


def test_rerun_of_a_truncated_request_says_why(client, lab):
    run = make_run(lab.acme.org, request={"_truncated": True, "size": 2_000_000, "preview": "{"})
    _login(client, lab.owner)
    response = client.post(f"/o/{lab.slug}/history/{run.public_id}/rerun/", follow=True)
    assert "cannot be replayed" in response.content.decode()


def test_diff_page(client, lab):
    left = make_run(lab.acme.org, response={"structuredContent": {"result": 2}})
    right = make_run(lab.acme.org, response={"structuredContent": {"result": XSS}})
    _login(client, lab.viewer)
    html = client.get(
        f"/o/{lab.slug}/history/diff/?run={left.public_id}&run={right.public_id}"
    ).content.decode()
    assert "1 changed line" in html and "diff-changed" in html
    assert XSS not in html and "&lt;script&gt;" in html


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("run={a}", "Select exactly two runs to compare."),
        ("run={a}&run={a}&run={a}", "Select exactly two runs to compare."),
        ("a={a}&b={a}", "Pick two different runs."),
        ("a={a}&b=nope", "Enter a valid UUID."),
        ("a={a}", "Select exactly two runs to compare."),
    ],
)
def test_diff_rejects_bad_selections(client, lab, query, message):
    run = make_run(lab.acme.org)
    _login(client, lab.owner)
    response = client.get(f"/o/{lab.slug}/history/diff/?{query.format(a=run.public_id)}")
    assert response.status_code == 400 and message in response.content.decode()


def test_diff_without_a_selection_explains_what_to_do(client, lab):
    _login(client, lab.viewer)
    response = client.get(f"/o/{lab.slug}/history/diff/")
    assert response.status_code == 200 and "Choose two runs to compare." in response.content.decode()


def test_diff_of_a_foreign_run_is_404(client, lab):
    mine, theirs = make_run(lab.acme.org), make_run(lab.globex.org)
    _login(client, lab.owner)
    assert (
        client.get(f"/o/{lab.slug}/history/diff/?a={mine.public_id}&b={theirs.public_id}").status_code == 404
    )


def test_analytics_page(client, lab):
    org = lab.acme.org
    for ms in (10, 20, 30, 40):
        make_run(org, duration_ms=ms)
    make_run(org, duration_ms=100, outcome="error")
    make_run(org, operation="resources/read", target=XSS, duration_ms=5)
    make_run(lab.globex.org, target="globex-only")
    _login(client, lab.viewer)
    html = client.get(f"/o/{lab.slug}/analytics/").content.decode()
    assert "globex-only" not in html
    assert XSS not in html and "&lt;script&gt;" in html
    row = re.search(r"utilities__calculate</code></a></td>(.*?)</tr>", html, re.S).group(1)
    cells = re.findall(r'<td class="num">([^<]*)</td>', row)
    assert cells == ["5", "80%", "1", "0", "30.0", "88.0"]
    assert (
        html.count('<svg class="chart-svg"') == 2 and 'class="bar-ok"' in html and 'class="bar-p95"' in html
    )
    week = client.get(f"/o/{lab.slug}/analytics/?window=7d&operation=resources%2Fread").content.decode()
    assert "last 7d" in week and "utilities__calculate</code>" not in week
    bad = client.get(f"/o/{lab.slug}/analytics/?window=forever")
    assert bad.status_code == 200 and 'value="24h" selected' in bad.content.decode()


def test_history_and_analytics_query_budgets(client, lab, django_assert_max_num_queries):
    for i in range(40):
        make_run(lab.acme.org, target=f"tool-{i % 7}", username=f"user-{i % 3}")
    _login(client, lab.owner)
    with django_assert_max_num_queries(12):  # session, user, membership, runs, count, users: no N+1
        assert client.get(f"/o/{lab.slug}/history/").status_code == 200
    with django_assert_max_num_queries(12):
        assert client.get(f"/o/{lab.slug}/analytics/").status_code == 200


def test_rerun_draws_from_the_mcp_rate_limits(client, lab, django_capture_on_commit_callbacks):
    from omni.audit.models import AuditEvent

    lab.acme.org.settings = {"rate_limits": {"mcp_per_key_per_minute": 1}}
    lab.acme.org.save()
    run = make_run(lab.acme.org)
    reset_mcp_counters(lab.acme.org, lab.member)
    _login(client, lab.member)
    assert client.post(f"/o/{lab.slug}/history/{run.public_id}/rerun/").status_code == 302
    with django_capture_on_commit_callbacks(execute=True):
        refused = client.post(f"/o/{lab.slug}/history/{run.public_id}/rerun/")
    assert refused.status_code == 429 and 1 <= int(refused["Retry-After"]) <= 60
    assert "mcp per key per minute" in refused.content.decode()
    assert TestRun.objects.for_org(lab.acme.org).count() == 2  # the first re-run only
    hit = AuditEvent.objects.get(organization=lab.acme.org, action="ratelimit.hit")
    assert hit.data["door"] == "rerun" and hit.actor_id == str(lab.member.pk)
