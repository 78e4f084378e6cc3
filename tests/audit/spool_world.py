"""Helpers for the spool's fault tests: a private database (PostgreSQL from tests/faults.py, or a
SQLite file) with a tenant in it, ``manage.py`` run against it, bounded tools/call load through a
live server, and reading the audit rows back with a plain database client."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg

from tests.gateway import rawmcp
from tests.live import ROOT

V = "2025-06-18"
CREATE_TENANT = """
import json
from omni.registry.models import ServerConnection
from omni.tenants.services import create_api_key, create_organization
org = create_organization("{slug}", "Spool")
org.settings = {{"audit_tool_arguments": True}}
org.save(update_fields=["settings"])
ServerConnection.objects.create(organization=org, name="utilities", transport="inprocess",
    target="utilities", enabled=True, timeout_seconds=10)
_key, raw = create_api_key(org, "load", scopes=None)
print("TENANT " + json.dumps({{"slug": org.slug, "key": raw}}))
"""


def manage(
    env: dict[str, str], *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess:
    result = subprocess.run(  # noqa: S603 (our own command line)
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"manage.py {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


def prepare(env: dict[str, str]) -> tuple[str, str]:
    """Migrate the private database and create a tenant; returns (org slug, API key)."""
    manage(env, "migrate", "--noinput", timeout=300)
    slug = f"spool-{uuid.uuid4().hex[:8]}"
    out = manage(env, "shell", "-c", CREATE_TENANT.format(slug=slug)).stdout
    line = next(line for line in out.splitlines() if line.startswith("TENANT "))
    tenant = json.loads(line[len("TENANT ") :])
    return tenant["slug"], tenant["key"]


def query(database_url: str, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows of ``sql`` (``%s`` placeholders) on a postgres:// or sqlite:/// database."""
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url[len("sqlite:///") :], timeout=30) as conn:
            return conn.execute(sql.replace("%s", "?"), params).fetchall()
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        return conn.execute(sql, params).fetchall()


def expression_of(database_url: str, arguments: Any) -> str | None:
    """The ``expression`` of recorded tool arguments, which the privacy app stores encrypted with
    the organization's data key (``omnienc:…``), or leaves masked and pending in the spool until the
    writer seals them. The key row is read from ``database_url`` and unwrapped with this process's
    ``PRIVACY_MASTER_KEYS`` (the server processes get the same list)."""

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from omni.privacy.crypto import envelope, keys
    from omni.privacy.crypto.audit import PENDING

    if isinstance(arguments, dict):
        arguments = arguments.get("value", arguments) if PENDING in arguments else arguments
        return arguments.get("expression")
    if not envelope.is_sealed(arguments):
        return None
    header, key_id, body = envelope._parse(arguments)
    ((wrapped, master_id),) = query(
        database_url, "SELECT wrapped_key, master_key_id FROM privacy_datakey WHERE key_id = %s", (key_id,)
    )
    raw = keys.unwrap(bytes(wrapped), key_id, master_id)
    plain = AESGCM(raw).decrypt(body[: keys.NONCE_BYTES], body[keys.NONCE_BYTES :], header.encode())
    return json.loads(plain).get("expression")


def audited_rows(database_url: str, slug: str) -> list[tuple[Any, str | None]]:
    """(id, ``expression`` argument) of every ``mcp.tools_call`` row of ``slug``."""
    if database_url.startswith("sqlite:///"):
        sql = (
            "SELECT id, json_extract(data, '$.arguments') FROM audit_auditevent "
            "WHERE org_slug = %s AND action = 'mcp.tools_call'"
        )
    else:
        sql = (
            "SELECT id, data->'arguments' FROM audit_auditevent "
            "WHERE org_slug = %s AND action = 'mcp.tools_call'"
        )
    rows = []
    for pk, arguments in query(database_url, sql, (slug,)):
        if isinstance(arguments, str) and not arguments.startswith("omnienc:"):
            arguments = json.loads(arguments)  # SQLite hands JSON objects back as text
        rows.append((pk, expression_of(database_url, arguments)))
    return rows


def audited_expressions(database_url: str, slug: str) -> list[str]:
    """The ``expression`` argument of every ``mcp.tools_call`` row of ``slug`` (duplicates kept)."""
    return [expression for _pk, expression in audited_rows(database_url, slug)]


def wait_for_expressions(database_url: str, slug: str, wanted: set[str], timeout: float = 90) -> list[str]:
    """Poll (bounded) until every expression in ``wanted`` has an audit row; returns all rows'."""
    deadline = time.monotonic() + timeout
    found: list[str] = []
    while time.monotonic() < deadline:
        try:
            found = audited_expressions(database_url, slug)
        except (psycopg.OperationalError, sqlite3.OperationalError):
            found = []
        if wanted <= set(found):
            return found
        time.sleep(0.25)
    missing = sorted(wanted - set(found))
    raise AssertionError(
        f"{len(missing)} acknowledged calls have no audit row after {timeout:g}s: {missing[:10]}"
    )


def call(url: str, key: str, session: str, expression: str) -> bool:
    """One tools/call; True when the gateway answered it with a result (acknowledged)."""
    try:
        response = rawmcp.post(
            url,
            {
                "jsonrpc": "2.0",
                "id": 7,
                "method": "tools/call",
                "params": {"name": "utilities__calculate", "arguments": {"expression": expression}},
            },
            key=key,
            session=session,
            version=V,
            timeout=20,
        )
    except Exception:
        return False
    if response.status_code != 200:
        return False
    try:
        messages = rawmcp.messages_of(response)
    except ValueError:
        return False
    return any("result" in message and message.get("id") == 7 for message in messages)


def session_for(url: str, key: str) -> str:
    session, _ = rawmcp.initialize(url, key, V)
    return session


@dataclass
class Load:
    """``workers`` threads calling tools/call through ``urls`` (round robin) until ``stop()`` or
    ``max_calls`` each. Every call has a unique expression; ``acked`` are those answered."""

    urls: list[str]
    key: str
    workers: int = 3
    max_calls: int = 2000
    prefix: str = field(default_factory=lambda: str(uuid.uuid4().int % 10**6))
    acked: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    phase: str = "before"
    by_phase: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Load:
        sessions = [session_for(url, self.key) for url in self.urls]
        for number in range(self.workers):
            url, session = self.urls[number % len(self.urls)], sessions[number % len(sessions)]
            thread = threading.Thread(target=self._run, args=(number, url, session), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _run(self, worker: int, url: str, session: str) -> None:
        for index in range(self.max_calls):
            if self._stop.is_set():
                return
            expression = f"{self.prefix}{worker:02d}{index:05d}+0"
            ok = call(url, self.key, session, expression)
            with self._lock:
                (self.acked if ok else self.failed).append(expression)
                if ok:
                    self.by_phase[self.phase] = self.by_phase.get(self.phase, 0) + 1
            if not ok:
                time.sleep(0.05)

    def wait_acked(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acked) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(self.acked)} of {count} calls acknowledged in {timeout:g}s")
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)


def live_env(extra: dict[str, Any]) -> dict[str, str]:
    return {name: str(value) for name, value in extra.items()}
