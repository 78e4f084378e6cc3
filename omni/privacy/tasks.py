"""Celery tasks of the privacy app (autodiscovered): each concern's module is imported here."""

from omni.privacy.retention.tasks import apply_retention_task  # noqa: F401
