"""The playground page in Debian's Chromium against a live server: the catalogue over the
websocket, forms generated from input schemas (strings, defaults, enums, arrays of nested objects,
raw JSON mode), live events and the result, and a viewer's disabled Run button."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.live

TIMEOUT = 30_000


def _log_in(page, server, user) -> None:
    page.goto(f"{server.url}/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url, timeout=TIMEOUT)


def _open(page, server, lab, user) -> None:
    _log_in(page, server, user)
    page.goto(f"{server.url}/o/{lab.slug}/playground/")
    page.wait_for_selector("#pg-status.status-open", timeout=TIMEOUT)
    page.wait_for_selector("#pg-list-tools li", timeout=TIMEOUT)


def _tool(page, name: str) -> None:
    page.fill("#pg-filter", name)
    page.click(f"#pg-list-tools button:has-text('{name}')")
    page.wait_for_selector("#pg-tool-form:not([hidden])")


def _last_request(page) -> dict:
    page.locator("#pg-events li[data-type=request] details").last.evaluate("d => d.open = true")
    return json.loads(page.locator("#pg-events li[data-type=request] pre").last.text_content())


def test_run_a_tool_and_watch_the_events(committed_lab, live_server, page):
    _open(page, live_server, committed_lab, committed_lab.member)
    assert page.locator("#pg-count-tools").text_content() == "22"
    _tool(page, "utilities__calculate")
    field = page.locator("#pg-tool-fields input[name=expression]")
    assert page.locator("#pg-tool-fields label:has-text('expression') .req").count() == 1
    field.fill("6*7")
    page.click("#pg-tool-run")
    page.wait_for_selector("#pg-events li[data-type=response]", timeout=TIMEOUT)
    types = page.locator("#pg-events li").evaluate_all("items => items.map(i => i.dataset.type)")
    assert types == ["request", "response"]
    assert '"result": 42' in page.locator("#pg-result").text_content()
    assert "valid" in page.locator("#pg-validation").text_content()
    link = page.locator("#pg-result-meta a").get_attribute("href")
    assert link.startswith(f"/o/{committed_lab.slug}/history/")
    page.goto(f"{live_server.url}{link}")
    assert "utilities__calculate" in page.content()


def test_raw_json_mode_round_trips(committed_lab, live_server, page):
    _open(page, live_server, committed_lab, committed_lab.member)
    _tool(page, "utilities__calculate")
    page.fill("#pg-tool-fields input[name=expression]", "1+1")
    page.check("#pg-raw-toggle")
    assert json.loads(page.input_value("#pg-tool-raw")) == {"expression": "1+1"}
    page.fill("#pg-tool-raw", '{"expression": "2**10"}')
    page.uncheck("#pg-raw-toggle")
    assert page.input_value("#pg-tool-fields input[name=expression]") == "2**10"
    page.check("#pg-raw-toggle")
    page.fill("#pg-tool-raw", "[not json")
    page.click("#pg-raw-toggle")  # refused: the JSON must be fixed first
    assert page.is_checked("#pg-raw-toggle")
    assert "Fix the JSON first" in page.text_content("#pg-tool-error")
    page.fill("#pg-tool-raw", '{"expression": "3*3"}')
    page.click("#pg-tool-run")
    page.wait_for_selector("#pg-events li[data-type=response]", timeout=TIMEOUT)
    assert _last_request(page)["params"]["arguments"] == {"expression": "3*3"}


def test_forms_for_defaults_enums_and_nested_arrays(committed_lab, live_server, page):
    _open(page, live_server, committed_lab, committed_lab.member)
    _tool(page, "utilities__hash_text")
    assert (
        page.input_value("#pg-tool-fields select[name=algorithm] >> nth=0") != ""
    )  # default sha256 selected
    assert page.locator("#pg-tool-fields select[name=algorithm] option:checked").text_content() == '"sha256"'

    _tool(page, "analytics__group_aggregate")
    page.fill("#pg-tool-fields input[name=name]", "sales")
    page.click(
        "#pg-tool-run"
    )  # aggregations is required and has no items yet: still sent, the gateway says why
    page.wait_for_selector("#pg-events li[data-type=response]", timeout=TIMEOUT)
    aggregations = page.locator("fieldset:has(legend:has-text('aggregations'))").first
    aggregations.locator("button:has-text('Add item')").click()
    item = aggregations.locator(".pg-array-item").first
    item.locator("select[name=func]").select_option(label='"sum"')
    item.locator("input[name=column]").fill("amount")
    group_by = page.locator("fieldset:has(legend:has-text('group_by'))").first
    group_by.locator("button:has-text('Add item')").click()
    group_by.locator(".pg-array-item input").first.fill("region")
    page.click("#pg-tool-run")
    expect(page.locator("#pg-events li[data-type=response]")).to_have_count(2, timeout=TIMEOUT)
    assert _last_request(page)["params"]["arguments"] == {
        "name": "sales",
        "aggregations": [{"func": "sum", "column": "amount"}],
        "group_by": ["region"],
    }
    assert "sales" in page.text_content("#pg-result")  # the tool says the dataset does not exist


def test_prompts_resources_and_console(committed_lab, live_server, page):
    _open(page, live_server, committed_lab, committed_lab.viewer)
    assert page.is_disabled("#pg-tool-run")  # a viewer may not call tools
    page.click("button[data-tab=prompts]")
    page.click("#pg-list-prompts button:has-text('greet')")
    page.fill("#pg-prompt-fields input[name=who]", "Ada")
    page.click("#pg-prompt-form button[type=submit]")
    page.wait_for_selector("#pg-events li[data-type=response]", timeout=TIMEOUT)
    assert "Hello Ada!" in page.text_content("#pg-result")

    page.click("button[data-tab=resources]")
    page.click("#pg-list-resource-items button:has-text('memo://acme/readme')")
    expect(page.locator("#pg-events li[data-type=response]")).to_have_count(2, timeout=TIMEOUT)
    assert "# acme readme" in page.text_content("#pg-result")

    page.click("button[data-tab=console]")
    page.fill("#pg-console-method", "tools/call")
    page.fill("#pg-console-params", '{"name": "utilities__calculate", "arguments": {"expression": "1"}}')
    page.click("#pg-console-form button[type=submit]")
    page.wait_for_selector("#pg-events li[data-type=denied]", timeout=TIMEOUT)
    assert "403" in page.text_content("#pg-events li[data-type=denied]")
