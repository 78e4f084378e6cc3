"""Fixtures of the admin UI tests: a small world with one user per role, logged-in clients, and a
real standalone MCP server process for the connection tests."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client

from omni.tenants.models import Role
from tests.factories import MembershipFactory, UserFactory, World
from tests.live import free_port, standalone_mcp_server

ROOT = Path(__file__).resolve().parents[2]


class UiWorld(World):
    """``World`` plus an admin and a member of acme: acme has one user per role."""

    def __init__(self) -> None:
        super().__init__()
        suffix = uuid.uuid4().hex[:8]
        self.admin = UserFactory(username=f"admin-{suffix}")
        self.acme_member = UserFactory(username=f"acmemember-{suffix}")
        MembershipFactory(user=self.admin, organization=self.acme, role=Role.ADMIN)
        MembershipFactory(user=self.acme_member, organization=self.acme, role=Role.MEMBER)

    def user(self, role: str):
        return {
            "owner": self.owner,
            "admin": self.admin,
            "member": self.acme_member,
            "viewer": self.viewer,
            "outsider": self.outsider,
        }[role]


@pytest.fixture
def world(db) -> UiWorld:
    return UiWorld()


@pytest.fixture
def login():
    """``login(user)``: a test client logged in as ``user``."""

    def make(user) -> Client:
        client = Client()
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        return client

    return make


@pytest.fixture
def owner_client(world, login) -> Client:
    return login(world.owner)


@contextlib.contextmanager
def standalone_server(name: str, pidfile=None) -> Iterator[str]:
    """``python -m mcp_servers.<name> --port N`` as a real process; yields its /mcp URL."""
    # The UI's connection test is the subject here; request signing is tested in tests/signing/.
    with standalone_mcp_server(name, "--no-verify", pidfile=pidfile) as base:
        yield f"{base}/mcp"


@pytest.fixture(scope="module")
def utilities_url(_one_session_per_database) -> Iterator[str]:
    """A real standalone utilities MCP server (9 tools) over Streamable HTTP."""
    with standalone_server("utilities", _one_session_per_database) as url:
        yield url


@pytest.fixture
def dead_url() -> str:
    """A URL where nothing listens."""
    return f"http://127.0.0.1:{free_port()}/mcp"
