"""System checks for what an operator can get wrong about rate limits and headers."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from omni.security.ratelimit import RATE_LIMIT_NAMES


@checks.register(checks.Tags.security)
def check_rate_limits(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    messages: list[checks.CheckMessage] = []
    missing = sorted(set(RATE_LIMIT_NAMES) - set(getattr(settings, "RATELIMIT_DEFAULTS", {})))
    if missing:
        messages.append(
            checks.Error(
                f"RATELIMIT_DEFAULTS lacks {', '.join(missing)}",
                id="omni.security.E001",
            )
        )
    return messages


@checks.register(checks.Tags.security, deploy=True)
def check_deploy(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    messages: list[checks.CheckMessage] = []
    if not settings.RATELIMIT_ENABLE:
        messages.append(
            checks.Warning(
                "Rate limiting is off (RATELIMIT_ENABLE=false).",
                hint="Unset RATELIMIT_ENABLE in production.",
                id="omni.security.W001",
            )
        )
    if not settings.REDIS_URL:
        messages.append(
            checks.Warning(
                "Without REDIS_URL, rate-limit and login-lockout counters are per process.",
                hint="Set REDIS_URL so that every web process shares the counters.",
                id="omni.security.W002",
            )
        )
    if getattr(settings, "OMNI_CSP_REPORT_ONLY", False):
        messages.append(
            checks.Warning(
                "The Content-Security-Policy is only reported, not enforced (OMNI_CSP_REPORT_ONLY).",
                id="omni.security.W003",
            )
        )
    return messages
