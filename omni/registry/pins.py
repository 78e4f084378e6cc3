"""Tool pinning: the gateway remembers each downstream tool's definition by hash.

A tool seen for the first time is pinned as it is (trust on first use). A tool whose name,
description, schemas or annotations change afterwards is *held back*: clients neither see nor call
it until an admin approves the new definition (protection against a server that changes a tool
after it was approved — a "rug pull"). Approving moves the pin to the new hash.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone


def tool_definition(tool: Any) -> dict[str, Any]:
    """What a pin covers: everything a model reads about a tool (not its namespaced name)."""
    dumped = tool.model_dump(mode="json", by_alias=True, exclude_none=True)
    return {key: dumped[key] for key in sorted(dumped) if key not in {"_meta", "icons", "execution"}}


def definition_hash(definition: dict[str, Any]) -> str:
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class ToolPin(models.Model):
    class Status(models.TextChoices):
        APPROVED = "approved", "approved"
        CHANGED = "changed", "changed, held back until approved"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    connection = models.ForeignKey("registry.ServerConnection", on_delete=models.CASCADE, related_name="pins")
    tool_name = models.CharField(max_length=200)
    approved_hash = models.CharField(max_length=64)
    approved_definition = models.JSONField(default=dict)
    pending_hash = models.CharField(max_length=64, blank=True)
    pending_definition = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.APPROVED)
    first_seen_at = models.DateTimeField(default=timezone.now)
    changed_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(default=timezone.now)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        app_label = "registry"
        constraints = [
            models.UniqueConstraint(fields=["connection", "tool_name"], name="unique_pin_per_tool")
        ]
        ordering = ["connection__name", "tool_name"]

    def __str__(self) -> str:
        return f"{self.connection.name}/{self.tool_name} ({self.status})"

    def approve(self, user: Any = None) -> None:
        """Accept the pending definition: the tool is offered again, as it is now."""
        if self.status != self.Status.CHANGED or not self.pending_hash:
            return
        self.approved_hash = self.pending_hash
        self.approved_definition = self.pending_definition or {}
        self.pending_hash = ""
        self.pending_definition = None
        self.status = self.Status.APPROVED
        self.approved_at = timezone.now()
        self.approved_by = user if getattr(user, "pk", None) else None
        with transaction.atomic():
            self.save()
            org_id = self.connection.organization_id

            def notify() -> None:
                from omni.gateway.notify import registry_changed

                registry_changed(org_id, {"tools"})

            transaction.on_commit(notify)


def check_tools(connection_id: int, tools: list[Any]) -> tuple[list[Any], list[str]]:
    """Pin new tools, hold back changed ones. Returns (tools to offer, names held back).

    Sync (ORM); the gateway calls it through ``sync_to_async`` once per catalogue build.
    """
    offered, held = [], []
    pins = {pin.tool_name: pin for pin in ToolPin.objects.filter(connection_id=connection_id)}
    now = timezone.now()
    for tool in tools:
        definition = tool_definition(tool)
        digest = definition_hash(definition)
        pin = pins.get(tool.name)
        if pin is None:
            ToolPin.objects.get_or_create(
                connection_id=connection_id,
                tool_name=tool.name,
                defaults={"approved_hash": digest, "approved_definition": definition, "approved_at": now},
            )
            offered.append(tool)
        elif pin.approved_hash == digest:
            if pin.status == ToolPin.Status.CHANGED:  # the server went back to the approved definition
                ToolPin.objects.filter(pk=pin.pk).update(status=ToolPin.Status.APPROVED, pending_hash="")
            offered.append(tool)
        else:
            if pin.pending_hash != digest:
                ToolPin.objects.filter(pk=pin.pk).update(
                    status=ToolPin.Status.CHANGED,
                    pending_hash=digest,
                    pending_definition=definition,
                    changed_at=now,
                )
            held.append(tool.name)
    return offered, held
