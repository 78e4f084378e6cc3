"""The data classes that are deleted by age, each with its platform default and bounds.

Other apps declare theirs with ``register`` (in their ``AppConfig.ready``)::

    from omni.privacy.retention.registry import RetentionClass, register

    register(RetentionClass(
        name="usage_rollups", label="Usage rollups (minute, hour, day)", default_days=400,
        queryset=lambda org, cutoff: UsageRollup.objects.filter(organization=org, bucket__lt=cutoff),
    ))

A class gives either ``queryset(org, cutoff)``: the rows of ``org`` older than ``cutoff`` (the engine
deletes them in id batches, ``SELECT … FOR UPDATE SKIP LOCKED``, so two runs never delete a row
twice), or ``delete_batch(org, cutoff, batch_size) -> int``: delete at most ``batch_size`` such
rows and return how many (it must be safe to run twice at once). ``count(org, cutoff)`` is used for
dry runs when given (otherwise ``queryset(...).count()``). ``org`` is an ``Organization``; classes
with ``platform=True`` are run once per run with ``org=None`` instead of once per organization.

Settings override the class's own numbers: ``RETENTION_DAYS[name]`` (the platform default) and
``RETENTION_BOUNDS[name] = (min_days, max_days)``; an organization's owner picks a value inside the
bounds on the privacy page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings

DeleteBatch = Callable[[Any, datetime, int], int]
QuerysetFactory = Callable[[Any, datetime], Any]
Counter = Callable[[Any, datetime], int]


@dataclass(frozen=True)
class RetentionClass:
    name: str
    label: str
    default_days: int
    min_days: int = 1
    max_days: int = 3650
    queryset: QuerysetFactory | None = None
    delete_batch: DeleteBatch | None = None
    count: Counter | None = None
    description: str = ""
    # Run once per run for the whole platform (org=None), not once per organization.
    platform: bool = False
    # Whether an organization may choose its own period (else the platform value applies).
    per_org: bool = True
    # Nothing to delete: the data expires by itself (a Redis TTL); listed for the privacy page.
    bounded_by: str = ""

    def __post_init__(self) -> None:
        if not self.name.replace("_", "").isalnum() or not self.name.islower():
            raise ValueError(f"retention class name {self.name!r}: lower-case letters, digits and _")
        if not self.bounded_by and self.queryset is None and self.delete_batch is None:
            raise ValueError(f"retention class {self.name!r} needs a queryset or a delete_batch function")
        if not 1 <= self.min_days <= self.default_days <= self.max_days:
            raise ValueError(f"retention class {self.name!r}: need 1 <= min <= default <= max days")

    # ------------------------------------------------------------------ settings applied
    @property
    def bounds(self) -> tuple[int, int]:
        low, high = (getattr(settings, "RETENTION_BOUNDS", {}) or {}).get(
            self.name, (self.min_days, self.max_days)
        )
        return int(low), int(high)

    @property
    def platform_days(self) -> int:
        """The platform default (``RETENTION_DAYS[name]`` or the class's own), inside the bounds."""
        days = int((getattr(settings, "RETENTION_DAYS", {}) or {}).get(self.name, self.default_days))
        low, high = self.bounds
        return min(max(days, low), high)

    @property
    def deletes(self) -> bool:
        return not self.bounded_by


_REGISTRY: dict[str, RetentionClass] = {}


def register(retention_class: RetentionClass) -> RetentionClass:
    """Declare a data class. Registering the same name again replaces it (module reloads, tests)."""
    if not isinstance(retention_class, RetentionClass):
        raise TypeError("register() takes a RetentionClass")
    _REGISTRY[retention_class.name] = retention_class
    return retention_class


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def get(name: str) -> RetentionClass:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no retention class {name!r} (known: {', '.join(sorted(_REGISTRY))})") from None


def all_classes() -> list[RetentionClass]:
    """Every registered class, in registration order."""
    return list(_REGISTRY.values())
