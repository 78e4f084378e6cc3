"""System checks of the retention settings (``manage.py check``): names that match no data class
(a typo silently keeps the default) and defaults outside the bounds (they are clamped)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from omni.privacy.retention.registry import all_classes


@checks.register(checks.Tags.compatibility)
def check_retention_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    messages: list[checks.CheckMessage] = []
    classes = {c.name: c for c in all_classes() if c.deletes}
    for setting in ("RETENTION_DAYS", "RETENTION_BOUNDS"):
        for name in sorted(set(getattr(settings, setting, {}) or {}) - set(classes)):
            messages.append(
                checks.Warning(
                    f"{setting} names {name!r}, which is no retention class: it has no effect.",
                    hint=f"Known classes: {', '.join(sorted(classes))}.",
                    id="privacy.W001",
                )
            )
    for name, days in sorted((getattr(settings, "RETENTION_DAYS", {}) or {}).items()):
        if name in classes:
            low, high = classes[name].bounds
            if not low <= days <= high:
                messages.append(
                    checks.Warning(
                        f"RETENTION_DAYS {name}={days} is outside its bounds {low}-{high}: "
                        f"{classes[name].platform_days} days apply.",
                        hint="Change RETENTION_DAYS or RETENTION_BOUNDS.",
                        id="privacy.W002",
                    )
                )
    return messages
