"""The privacy app's models, one module per concern (data keys, retention, data-subject requests).

Each module is imported here so Django finds its models."""

from omni.privacy.models.keys import DataKey  # noqa: F401
from omni.privacy.models.requests import DataSubjectRequest  # noqa: F401
from omni.privacy.models.retention import OrgRetention, RetentionRun  # noqa: F401
