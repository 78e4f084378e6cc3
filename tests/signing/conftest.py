"""Fixtures for the signing tests: an isolated key ring per test, and standalone servers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from omni.gateway.signing_keys import KeyMaterial, keyring
from tests.live import standalone_mcp_server

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0


class StaticKeys:
    """A fixed key ring for unit tests (``SignatureRequired(keys=...)``, ``GatewaySigner(keys=...)``)."""

    def __init__(self, *keys: KeyMaterial) -> None:
        self.keys = {key.key_id: key for key in keys}
        self.signing = keys[0] if keys else None

    async def get(self, key_id: str) -> KeyMaterial | None:
        return self.keys.get(key_id)

    async def current(self) -> KeyMaterial:
        return self.signing

    def current_sync(self) -> KeyMaterial:
        return self.signing


@pytest.fixture(autouse=True)
def _fresh_keyring():
    """The process-wide key ring must not keep keys that a rolled-back test transaction created."""
    keyring.clear()
    yield
    keyring.clear()


@pytest.fixture(autouse=True)
async def _close_orm_thread_connections():
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    await sync_to_async(connections.close_all)()


@contextlib.contextmanager
def standalone_server(
    env: dict[str, str], *extra: str, pidfile=None, name: str = "utilities"
) -> Iterator[str]:
    """``python -m mcp_servers.<name> --port N`` with ``env``; yields its base URL."""
    with standalone_mcp_server(name, *extra, env=env, pidfile=pidfile) as base:
        yield base


@pytest.fixture(scope="module")
def signed_server(live_server_factory, _one_session_per_database) -> Iterator[str]:
    """The utilities server on its own, verifying signatures, on the tests' database and Redis
    (the same environment, secrets included, as the live daphne servers)."""
    with standalone_server(live_server_factory.env, pidfile=_one_session_per_database) as url:
        yield url
