"""Retention (omni/privacy/retention): organizations' periods and legal hold, the record of runs, and
the one way an audit event may be deleted.

On PostgreSQL the audit table refuses UPDATE and DELETE in SQL (audit migration 0002). Retention
must remove the oldest events, so the trigger function now lets a DELETE through when the
transaction set ``omni.audit_prune`` to ``on`` (``SET LOCAL``, which only
``omni.privacy.retention.audit`` does, together with writing the checkpoint event that
``verify_audit`` starts from). Anything else is still refused; a deletion that bypasses this and
leaves no checkpoint is a gap that ``verify_audit`` reports.
"""

import django.db.models.deletion
import django.utils.timezone
import uuid
from django.db import migrations, models


PRUNABLE = r"""
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND OLD.organization_id IS NOT NULL
       AND NEW.organization_id IS NULL
       AND (to_jsonb(NEW) - 'organization_id') = (to_jsonb(OLD) - 'organization_id') THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'DELETE' AND current_setting('omni.audit_prune', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_auditevent is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""

APPEND_ONLY = r"""
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND OLD.organization_id IS NOT NULL
       AND NEW.organization_id IS NULL
       AND (to_jsonb(NEW) - 'organization_id') = (to_jsonb(OLD) - 'organization_id') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_auditevent is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def allow_pruning(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PRUNABLE, params=None)


def refuse_pruning(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ("privacy", "0001_initial"),
        ("audit", "0003_spool"),
        ("tenants", "0002_invitation"),
    ]

    operations = [
        migrations.CreateModel(
            name="OrgRetention",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("days", models.JSONField(blank=True, default=dict)),
                ("legal_hold", models.BooleanField(default=False)),
                ("legal_hold_reason", models.CharField(blank=True, max_length=500)),
                ("legal_hold_since", models.DateTimeField(blank=True, null=True)),
                ("legal_hold_by", models.CharField(blank=True, max_length=150)),
                ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "organization",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="retention",
                        to="tenants.organization",
                    ),
                ),
            ],
            options={
                "verbose_name": "organization retention",
            },
        ),
        migrations.CreateModel(
            name="RetentionRun",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("run_id", models.UUIDField(db_index=True, default=uuid.uuid4, editable=False)),
                ("class_name", models.CharField(max_length=64)),
                ("org_slug", models.CharField(blank=True, max_length=50)),
                (
                    "trigger",
                    models.CharField(
                        choices=[("beat", "Scheduled"), ("command", "Command line")],
                        default="beat",
                        max_length=8,
                    ),
                ),
                ("dry_run", models.BooleanField(default=False)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("running", "Running"),
                            ("done", "Done"),
                            ("held", "Legal hold: nothing deleted"),
                            ("partial", "Stopped at the batch limit (continues next run)"),
                            ("failed", "Failed"),
                        ],
                        default="running",
                        max_length=8,
                    ),
                ),
                ("cutoff", models.DateTimeField(blank=True, null=True)),
                ("days", models.PositiveIntegerField(blank=True, null=True)),
                ("deleted", models.PositiveBigIntegerField(default=0)),
                ("batches", models.PositiveIntegerField(default=0)),
                ("error", models.TextField(blank=True)),
                ("started_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "organization",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="retention_runs",
                        to="tenants.organization",
                    ),
                ),
            ],
            options={
                "ordering": ["-started_at", "-id"],
                "indexes": [models.Index(fields=["organization", "-started_at"], name="privacy_ret_run_org")],
            },
        ),
        migrations.RunPython(allow_pruning, refuse_pruning),
    ]
