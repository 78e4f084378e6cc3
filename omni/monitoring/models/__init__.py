"""The monitoring app's models, one module per concern (heartbeats, server status, usage, alerts).

Each module is imported here so Django finds its models."""

from omni.monitoring.models.status import ServerStatus, StatusHour, StatusProbe  # noqa: F401  (mstatus)
