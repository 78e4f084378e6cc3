"""The gateway's system checks catch what an operator can get wrong."""

from __future__ import annotations

from omni.gateway.checks import check_gateway_settings


def _ids() -> set[str]:
    return {message.id for message in check_gateway_settings()}


def test_clean_settings_have_no_messages(settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/15"
    assert _ids() == set()


def test_postgres_without_redis_warns(settings):
    settings.REDIS_URL = None
    settings.DATABASES = {
        **settings.DATABASES,
        "default": {**settings.DATABASES["default"], "ENGINE": "django.db.backends.postgresql"},
    }
    assert "omni.gateway.W001" in _ids()


def test_wildcard_origin_is_an_error(settings):
    settings.MCP_ALLOWED_ORIGINS = ["http://localhost:*", "*"]
    assert "omni.gateway.E002" in _ids()


def test_tiny_idle_timeout_and_bad_factory_path(settings):
    settings.MCP_SESSION_IDLE_SECONDS = 10
    settings.MCP_INPROCESS_SERVERS = {"x": "no_colon_here"}
    assert {"omni.gateway.W003", "omni.gateway.E004"} <= _ids()
