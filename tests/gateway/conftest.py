"""Fixtures for live gateway tests: committed tenants and SDK clients over real HTTP."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx2
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from tests.gateway.world import Tenant, make_tenant


@pytest.fixture
def acme(committed) -> Tenant:
    return make_tenant("acme")


@pytest.fixture
def globex(committed) -> Tenant:
    return make_tenant("globex")


@contextlib.asynccontextmanager
async def connect(url: str, key: str, mode: str = "auto", **kwargs) -> AsyncIterator[Client]:
    """The official SDK client over Streamable HTTP with the API key as bearer token."""
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode, **kwargs) as client:
            yield client


@contextlib.asynccontextmanager
async def connect_sse(url: str, key: str, **kwargs) -> AsyncIterator[Client]:
    """The official SDK client over the 2024-11-05 HTTP+SSE transport."""
    transport = sse_client(url, headers={"Authorization": f"Bearer {key}"})
    async with Client(transport, mode="legacy", **kwargs) as client:
        yield client


@pytest.fixture(autouse=True)
async def _close_orm_thread_connections():
    """Close the connection the async ORM (sync_to_async) opened in asgiref's worker thread, so
    PostgreSQL can drop the test database at the end."""
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    await sync_to_async(connections.close_all)()
