"""Omni MCP Platform: one Django project, a multi-tenant MCP gateway."""

from omni.celery import app as celery_app

__all__ = ["celery_app"]
