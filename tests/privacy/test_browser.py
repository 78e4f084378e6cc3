"""From the UI, in Chromium (Playwright) against a live server and a real Celery worker: a person
downloads their data once, asks for erasure, cancels, asks again, and is erased when it is due."""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from omni.privacy.models import DataSubjectRequest
from omni.tenants.models import Role
from omni.tenants.services import add_member, create_api_key, create_organization
from tests.factories import TEST_PASSWORD, UserFactory
from tests.live import unique_slug
from tests.privacy.conftest import verify_chain
from tests.privacy.live_helpers import CeleryWorker, in_thread, pg_dump_text, wait_for


@pytest.fixture
def worker(live_server_factory):
    process = CeleryWorker(live_server_factory.env).start()
    yield process
    process.stop()


def _reload_until(page, selector: str, tries: int = 60) -> None:
    for _ in range(tries):
        if page.locator(selector).count():
            return
        page.wait_for_timeout(500)
        page.reload()
    raise AssertionError(f"{selector} never appeared")


def test_download_my_data_then_delete_my_account(live_server, committed, worker, page):
    tag = uuid.uuid4().hex[:10]

    def setup():
        org = create_organization(unique_slug("dsr-ui"), "DSR UI")
        boss = UserFactory(username=f"uiboss-{tag}", email=f"uiboss-{tag}@example.org")
        uma = UserFactory(username=f"uma-{tag}", email=f"uma.{tag}@example.org")
        add_member(org, boss, Role.OWNER)
        add_member(org, uma, Role.MEMBER)
        create_api_key(org, f"uma-key-{tag}", created_by=uma)
        create_api_key(org, f"boss-key-{tag}", created_by=boss)
        return boss, uma

    boss, uma = in_thread(setup)  # Playwright's loop runs in this thread: the ORM goes elsewhere

    page.goto(f"{live_server.url}/account/")
    assert "/login/" in page.url
    page.fill("input[name=username]", uma.username)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/account/$"))
    assert uma.email in page.inner_text("[data-testid=profile]")

    # Download my data: queued by the web process, built by the worker, downloaded once.
    page.click("[data-testid=export-me]")
    _reload_until(page, "[data-testid=download-link]")
    link = page.get_attribute("[data-testid=download-link]", "href")
    with page.expect_download() as download_info:
        page.click("[data-testid=download-link]")
    path = download_info.value.path()
    with zipfile.ZipFile(path) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    assert json.loads(files["profile.json"])["username"] == uma.username
    assert [k["name"] for k in json.loads(files["api_keys.json"])] == [f"uma-key-{tag}"]
    blob = b"".join(files.values()).decode()
    assert boss.username not in blob and boss.email not in blob and f"boss-key-{tag}" not in blob
    response = page.goto(f"{live_server.url}{link}")
    assert response.status == 410 and "already been used" in page.inner_text("[data-testid=link-error]")

    # Delete my account: a wrong password, then the right one; cancel; ask again.
    page.goto(f"{live_server.url}/account/")
    page.fill("#erase-password", "wrong-password")
    page.click("[data-testid=erase-me]")
    assert "password is not correct" in page.inner_text(".messages")
    page.fill("#erase-password", TEST_PASSWORD)
    page.click("[data-testid=erase-me]")
    assert "will be erased on" in page.inner_text("[data-testid=erasure-pending]")
    page.click("[data-testid=cancel-erasure]")
    assert "cancelled" in page.inner_text(".messages")
    assert page.locator("[data-testid=dsr-register] tr[data-state=cancelled]").count() == 1
    page.fill("#erase-password", TEST_PASSWORD)
    page.click("[data-testid=erase-me]")
    assert page.locator("[data-testid=erasure-pending]").count() == 1

    # The grace period ends; beat's task (run by the worker) carries it out.
    def make_due() -> None:
        DataSubjectRequest.objects.filter(user=uma, kind="erasure", state="pending").update(
            scheduled_for=timezone.now() - timedelta(seconds=1)
        )

    in_thread(make_due)
    from omni.privacy.subjects.tasks import process_due_requests

    in_thread(process_due_requests.delay)  # queued on the broker; the worker runs it
    gone = wait_for(
        lambda: not in_thread(lambda: get_user_model().objects.filter(pk=uma.pk).exists()), timeout=60
    )
    assert gone, worker.logs()
    page.goto(f"{live_server.url}/account/")
    assert "/login/" in page.url  # her session is gone
    dump = pg_dump_text()
    leftovers = [line[:300] for line in dump.splitlines() if uma.username in line or uma.email in line]
    assert not leftovers, leftovers
    assert boss.username in dump
    status, out = in_thread(verify_chain)
    assert status == 0, out
    state = in_thread(
        lambda: list(
            DataSubjectRequest.objects.filter(subject_label=f"user #{uma.pk}").values_list("kind", "state")
        )
    )
    assert sorted(state) == [("erasure", "cancelled"), ("erasure", "done"), ("export", "done")]


def test_owner_exports_the_organization_from_its_requests_page(live_server, committed, worker, page):
    tag = uuid.uuid4().hex[:8]

    def setup():
        org = create_organization(unique_slug("dsr-org"), "DSR Org")
        other = create_organization(unique_slug("dsr-oth"), "DSR Other")
        owner = UserFactory(username=f"orgowner-{tag}")
        add_member(org, owner, Role.OWNER)
        add_member(other, owner, Role.OWNER)
        return org, other, owner

    org, other, owner = in_thread(setup)
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", owner.username)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    page.goto(f"{live_server.url}/o/{org.slug}/")
    page.click("text=Data requests")
    page.wait_for_url(re.compile(r"/privacy/requests/$"))
    page.click("[data-testid=export-org]")
    _reload_until(page, "[data-testid=download-link]")
    with page.expect_download() as download_info:
        page.click("[data-testid=download-link]")
    with zipfile.ZipFile(io.BytesIO(open(download_info.value.path(), "rb").read())) as archive:  # noqa: SIM115
        organization = json.loads(archive.read("organization.json"))
        names = archive.namelist()
        blob = b"".join(archive.read(n) for n in names).decode()
    assert organization["slug"] == org.slug and "audit_log.json" in names
    assert other.slug not in blob
