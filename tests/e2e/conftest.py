"""End-to-end browser tests: Debian's Chromium, driven by Playwright for Python, against a live
daphne server (``live_server``) on the test database.

* The browser and page come from ``tests/conftest.py`` (``browser``/``page``: Debian's Chromium with
  ``tests.live.CHROMIUM_ARGS``). ``browser_type_launch_args`` below points pytest-playwright's own
  fixtures (``launch_browser``, ``context``, …) at the same executable and arguments, so nothing in
  this directory ever tries to download a browser.
* A test that fails saves a full-page screenshot of its ``page`` to ``test-results/`` (or
  ``$OMNI_TEST_RESULTS``), named after the test, and says so in its report.
* Rows are created (``committed``) before the page is used: Playwright's sync API runs an event loop
  in the test's thread, where Django refuses ORM calls; later reads go through ``in_thread``.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from omni.registry.models import Prompt, Resource, ResourceTemplate, ServerConnection
from omni.registry.seeding import ensure_items, load_fixture
from omni.tenants.models import Role
from omni.tenants.services import add_member, create_organization
from tests.factories import TEST_PASSWORD, UserFactory
from tests.live import CHROMIUM_ARGS, CHROMIUM_PATH, ROOT, unique_slug

T = TypeVar("T")
RESULTS_DIR = Path(os.environ.get("OMNI_TEST_RESULTS", ROOT / "test-results"))


# --------------------------------------------------------------------------- browser
@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's launch arguments: Debian's Chromium, headless, no sandbox."""
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM_PATH,
        "args": CHROMIUM_ARGS,
        "headless": True,
    }


def screenshot_path(nodeid: str) -> Path:
    """Where the screenshot of a failed test goes: test-results/<test id>.png."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")[:180]
    return RESULTS_DIR / f"{name}.png"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    page = getattr(item, "funcargs", {}).get("page")
    if page is None or page.is_closed():
        return
    path = screenshot_path(item.nodeid)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=True)
    except Exception as exc:  # a dead browser must not hide the test's own failure
        report.sections.append(("screenshot", f"could not save a screenshot: {exc}"))
        return
    report.sections.append(("screenshot", f"saved {path} (page {page.url})"))


# --------------------------------------------------------------------------- helpers
def in_thread(fn: Callable[[], T]) -> T:
    """Run ORM code in a worker thread (not in Playwright's event-loop thread) and close its
    connection afterwards."""

    def run() -> T:
        from django.db import connections

        try:
            return fn()
        finally:
            connections.close_all()

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=60)


# --------------------------------------------------------------------------- the world
@dataclass
class E2EWorld:
    """Two organizations of one owner: ``main`` (built-in utilities server and the demo catalogue)
    and ``second``; a third organization the owner does not belong to."""

    main: Any
    second: Any
    foreign: Any
    owner: Any
    password: str = TEST_PASSWORD


@pytest.fixture
def e2e_world(committed) -> E2EWorld:
    main = create_organization(unique_slug("e2e"), "E2E Main")
    second = create_organization(unique_slug("e2e-two"), "E2E Second")
    foreign = create_organization(unique_slug("e2e-x"), "E2E Foreign")
    owner = UserFactory(username=f"e2e-owner-{uuid.uuid4().hex[:8]}")
    add_member(main, owner, Role.OWNER)
    add_member(second, owner, Role.ADMIN)
    ServerConnection.objects.create(
        organization=main, name="utilities", transport="inprocess", target="utilities", timeout_seconds=20
    )
    ensure_items(Prompt, main, load_fixture("demo_prompts.json"))
    ensure_items(Resource, main, load_fixture("demo_resources.json"))
    ensure_items(ResourceTemplate, main, load_fixture("demo_resource_templates.json"))
    return E2EWorld(main=main, second=second, foreign=foreign, owner=owner)


@pytest.fixture
def login(live_server, page) -> Callable[[E2EWorld, str], None]:
    """``login(world, next_path)``: log in through the login form and land on ``next_path``."""

    def do(world: E2EWorld, next_path: str) -> None:
        page.goto(f"{live_server.url}{next_path}")
        assert "/login/" in page.url
        page.fill("input[name=username]", world.owner.username)
        page.fill("input[name=password]", world.password)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(re.escape(next_path) + "$"))

    return do
