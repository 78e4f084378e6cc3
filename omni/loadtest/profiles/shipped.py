"""The profiles shipped in ``loadtests/*.yaml`` (smoke, baseline, stress, multi-tenant, …)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

SHIPPED_DIR = Path(getattr(settings, "LOADTESTS_DIR", Path(settings.BASE_DIR) / "loadtests"))


def shipped_profiles() -> dict[str, str]:
    """Shipped profile name (the file's stem) -> its YAML, sorted by name."""
    if not SHIPPED_DIR.is_dir():
        return {}
    return {
        path.stem: path.read_text(encoding="utf-8")
        for path in sorted(SHIPPED_DIR.glob("*.yaml"))
        if path.is_file()
    }
