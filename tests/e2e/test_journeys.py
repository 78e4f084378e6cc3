"""What an admin does in the browser, end to end against a live server: log in, switch organization,
create and preview a prompt, register an MCP server (a real standalone process), run one of its
tools in the playground and watch the answer arrive over the websocket, run a scenario, then open
the history and compare two runs."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from omni.playground.models import ScenarioRun, TestRun
from omni.registry.models import ServerConnection
from tests.e2e.conftest import in_thread
from tests.live import standalone_mcp_server

pytestmark = pytest.mark.live


def test_log_in_switch_organization_create_and_preview_a_prompt(live_server, e2e_world, page, login):
    world = e2e_world
    login(world, f"/o/{world.main.slug}/")
    assert page.locator("h1").first.inner_text() == "E2E Main"

    # The switcher offers the owner's two organizations (not the foreign one) and keeps the section.
    page.click(f"nav >> a[href='/o/{world.main.slug}/prompts/']")
    page.wait_for_url(re.compile(rf"/o/{world.main.slug}/prompts/$"))
    page.click("[data-testid=org-switcher] summary")
    menu = page.locator("[data-testid=org-switcher] .dropdown-menu")
    assert "E2E Main" in menu.inner_text() and "E2E Second" in menu.inner_text()
    assert "E2E Foreign" not in menu.inner_text()
    page.click(f"[data-testid=org-switcher] a[href='/o/{world.second.slug}/prompts/']")
    page.wait_for_url(re.compile(rf"/o/{world.second.slug}/prompts/$"))
    assert "E2E Second" in page.locator("[data-testid=org-switcher] summary").inner_text()
    assert page.locator(".topbar .badge").inner_text() == "admin"

    # Create a prompt in the second organization, then render it with the preview (htmx).
    page.click("text=New prompt")
    page.fill("input[name=name]", "e2e_release_note")
    page.fill("textarea[name=arguments]", '[{"name": "version", "required": true}]')
    page.fill(
        "textarea[name=messages]", '[{"role": "user", "content": "Write the notes of release {version}."}]'
    )
    page.click("button:has-text('Create prompt')")
    page.wait_for_selector("text=Created prompt e2e_release_note.")
    page.fill("input[name=arg_version]", "2.7.1")
    page.click("button:has-text('Render')")
    page.wait_for_selector("#preview >> text=Write the notes of release 2.7.1.")
    assert "/preview/" not in page.url

    # The prompt belongs to the second organization only.
    page.goto(f"{live_server.url}/o/{world.main.slug}/prompts/")
    assert "e2e_release_note" not in page.locator("#rows").inner_text()


def test_register_a_server_and_run_its_tool_live_in_the_playground(live_server, e2e_world, page, login):
    world = e2e_world
    with standalone_mcp_server("utilities", env=live_server.env) as base:
        url = f"{base}/mcp"
        login(world, f"/o/{world.main.slug}/servers/")
        page.click("text=Register a server")
        page.fill("input[name=name]", "ext-utils")
        page.select_option("select[name=transport]", "streamable_http")
        page.fill("input[name=url]", url)
        page.fill("input[name=timeout_seconds]", "15")
        page.click("button:has-text('Create server')")
        page.wait_for_selector("text=ext-utils")
        assert in_thread(
            lambda: ServerConnection.objects.owned_by(world.main).filter(name="ext-utils", url=url).exists()
        )

        # The playground lists the new server's tools; run one and watch the answer arrive live.
        page.goto(f"{live_server.url}/o/{world.main.slug}/playground/")
        page.wait_for_selector("[data-testid=ws-status]:has-text('connected')")
        page.fill("#pg-filter", "ext-utils__calculate")
        tool = page.locator("#pg-list-tools button:has-text('ext-utils__calculate')")
        try:
            tool.wait_for(timeout=20_000)
        except PlaywrightTimeout:
            pytest.fail(
                "the playground does not list ext-utils__calculate; catalogue errors: "
                f"{page.inner_text('#pg-catalogue-errors')!r}; tools: {page.inner_text('#pg-list-tools')!r}\n"
                f"server log (end):\n{live_server.logs()[-4000:]}"
            )
        tool.click()
        page.locator("#pg-tool-fields").get_by_label(re.compile(r"^expression")).fill("6*(3+4)")
        url_before = page.url
        page.click("#pg-tool-run")
        page.wait_for_selector("[data-testid=events] >> text=response")
        page.wait_for_function(
            "document.querySelector('[data-testid=result]').textContent.includes('\"result\": 42')"
        )
        assert page.url == url_before  # no navigation: the answer came over the websocket
        result = page.locator("[data-testid=result]").inner_text()
        assert '"expression": "6*(3+4)"' in result

    runs = in_thread(
        lambda: list(
            TestRun.objects.for_org(world.main)
            .filter(target="ext-utils__calculate")
            .values_list("outcome", "source")
        )
    )
    assert runs == [("ok", "playground")]


def test_run_a_scenario_then_compare_two_runs_in_the_history(live_server, e2e_world, page, login):
    world = e2e_world
    login(world, f"/o/{world.main.slug}/scenarios/")
    row = page.locator("tr[data-scenario=utilities_smoke]")
    assert "shipped" in row.inner_text()

    # Run it twice, the second time with another message for the base64 round trip.
    row.locator("button:has-text('Run')").click()
    page.wait_for_selector("[data-testid=scenario-report]")
    assert "7 of 7 steps passed" in page.content()
    assert page.locator("tr.step-passed").count() == 7
    page.click("text=All scenarios")
    row = page.locator("tr[data-scenario=utilities_smoke]")
    row.locator("input[name=var_message]").fill("second run")
    row.locator("button:has-text('Run')").click()
    page.wait_for_selector("[data-testid=scenario-report]")
    assert page.locator("tr.step-passed").count() == 7
    assert "second run" in page.locator("dl.props").inner_text()

    # The report links each step to the same step of the previous run: compare the encode steps.
    page.locator("tr[data-step=encode] >> text=compare with previous run").click()
    page.wait_for_url(re.compile(r"/history/diff/\?a=.+&b=.+"))
    diff = page.content()
    assert "SGVsbG8sIE9tbmkhIOKckw==" in diff  # base64 of the first run's "Hello, Omni! ✓"
    assert "c2Vjb25kIHJ1bg==" in diff  # base64 of "second run"

    # The history shows every step as a scenario run; pick two runs there and compare them.
    page.goto(f"{live_server.url}/o/{world.main.slug}/history/?source=scenario&tool=hash_text")
    rows = page.locator("#history-table tbody tr[data-run]")
    assert rows.count() == 2
    rows.nth(0).locator("input[name=run]").check()
    rows.nth(1).locator("input[name=run]").check()
    page.click("button:has-text('Compare the two selected runs')")
    page.wait_for_url(re.compile(r"/history/diff/"))
    assert "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" in page.content()

    stored = in_thread(
        lambda: list(ScenarioRun.objects.for_org(world.main).values_list("name", "status", "trigger"))
    )
    assert stored == [("utilities_smoke", "passed", "ui")] * 2
