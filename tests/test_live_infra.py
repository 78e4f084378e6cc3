"""The live-server infrastructure itself: real daphne processes on the test database and Redis."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.parse
import urllib.request

from django.contrib.auth import get_user_model
from django.db import connection

from tests.live import http_get, unique_slug


def admin_login(base_url: str, username: str, password: str) -> tuple[int, str]:
    """Log in through Django's admin form; returns the final status and URL (redirects followed)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{base_url}/admin/login/?next=/admin/", timeout=10) as response:
        page = response.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token, "username": username, "password": password, "next": "/admin/"}
    ).encode()
    request = urllib.request.Request(f"{base_url}/admin/login/", data=form, headers={"Referer": base_url})
    with opener.open(request, timeout=10) as response:
        return response.status, response.url


def test_healthz_of_a_real_server_process(live_server):
    status, body = live_server.get_json("/healthz")
    assert status == 200
    assert body == {"status": "ok"}
    assert live_server.mcp_url == f"http://127.0.0.1:{live_server.port}/mcp"


def test_two_processes_see_committed_rows_of_the_test_database(live_server, live_server_factory, committed):
    second = live_server_factory.start()
    assert second.port != live_server.port
    assert connection.settings_dict["NAME"].startswith("test_")

    username = unique_slug("staff")
    get_user_model().objects.create_user(username, password="a long test password", is_staff=True)

    for server in (live_server, second):
        status, final_url = admin_login(server.url, username, "a long test password")
        assert status == 200
        assert urllib.parse.urlsplit(final_url).path == "/admin/", server.logs()
    status, final_url = admin_login(second.url, username, "a wrong password")
    assert urllib.parse.urlsplit(final_url).path == "/admin/login/"


def test_restart_keeps_the_port(live_server_factory):
    server = live_server_factory.start(name="restartable")
    port, pid = server.port, server.process.pid
    server.restart()
    assert (server.port, server.url) == (port, f"http://127.0.0.1:{port}")
    assert server.process.pid != pid
    assert http_get(f"{server.url}/healthz")[0] == 200
    server.restart(hard=True)
    assert http_get(f"{server.url}/healthz")[0] == 200
    assert server.logs().count("===== start #") == 3


def test_chromium_opens_a_page_of_the_live_server(live_server, page):
    page.goto(f"{live_server.url}/admin/login/")
    assert page.locator("input[name=username]").is_visible()
