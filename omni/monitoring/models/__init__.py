"""The monitoring app's models, one module per concern (heartbeats, server status, usage, alerts).

Each module is imported here so Django finds its models."""

from omni.monitoring.models import alerts  # noqa: F401,E402  (alert rules, incidents, channels)
from omni.monitoring.models.heartbeats import Heartbeat  # noqa: F401
from omni.monitoring.models.status import ServerStatus, StatusHour, StatusProbe  # noqa: F401  (mstatus)
from omni.monitoring.models.usage import UsageDay, UsageHour, UsageMinute  # noqa: F401
