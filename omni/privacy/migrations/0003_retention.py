"""Retention (omni/privacy/retention): organizations' periods and legal hold, the record of runs, and
the one way an audit event may be deleted.

On PostgreSQL the audit table refuses UPDATE and DELETE in SQL (audit migrations 0002 and 0004:
the only updates allowed are an organization's deletion and a person's erasure). Retention
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
DECLARE
    personal text[] := ARRAY['actor_name', 'target_id', 'target_repr', 'ip'];
    erased jsonb := '{"actor_name": "[erased]", "target_id": "", "target_repr": "[erased]", "ip": ""}';
    name text;
BEGIN
    IF TG_OP = 'UPDATE'
       AND OLD.organization_id IS NOT NULL
       AND NEW.organization_id IS NULL
       AND (to_jsonb(NEW) - 'organization_id') = (to_jsonb(OLD) - 'organization_id') THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE'
       AND OLD.chain_version >= 2
       AND NEW.organization_id IS NOT DISTINCT FROM OLD.organization_id
       AND (to_jsonb(NEW) - personal - 'personal_salts') = (to_jsonb(OLD) - personal - 'personal_salts')
       AND OLD.personal_salts @> NEW.personal_salts THEN
        FOREACH name IN ARRAY personal LOOP
            IF (to_jsonb(NEW) -> name) IS DISTINCT FROM (to_jsonb(OLD) -> name)
               AND ((to_jsonb(NEW) -> name) IS DISTINCT FROM (erased -> name) OR NEW.personal_salts ? name) THEN
                RAISE EXCEPTION 'audit_auditevent is append-only: % may only be erased', name
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            IF NOT (NEW.personal_salts ? name) AND (to_jsonb(NEW) -> name) IS DISTINCT FROM (erased -> name) THEN
                RAISE EXCEPTION 'audit_auditevent is append-only: % lost its salt but was not erased', name
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
        END LOOP;
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

# The function as audit migration 0004 left it (erasure allowed, no pruning).
APPEND_ONLY = r"""
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$
DECLARE
    personal text[] := ARRAY['actor_name', 'target_id', 'target_repr', 'ip'];
    erased jsonb := '{"actor_name": "[erased]", "target_id": "", "target_repr": "[erased]", "ip": ""}';
    name text;
BEGIN
    IF TG_OP = 'UPDATE'
       AND OLD.organization_id IS NOT NULL
       AND NEW.organization_id IS NULL
       AND (to_jsonb(NEW) - 'organization_id') = (to_jsonb(OLD) - 'organization_id') THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE'
       AND OLD.chain_version >= 2
       AND NEW.organization_id IS NOT DISTINCT FROM OLD.organization_id
       AND (to_jsonb(NEW) - personal - 'personal_salts') = (to_jsonb(OLD) - personal - 'personal_salts')
       AND OLD.personal_salts @> NEW.personal_salts THEN
        FOREACH name IN ARRAY personal LOOP
            IF (to_jsonb(NEW) -> name) IS DISTINCT FROM (to_jsonb(OLD) -> name)
               AND ((to_jsonb(NEW) -> name) IS DISTINCT FROM (erased -> name) OR NEW.personal_salts ? name) THEN
                RAISE EXCEPTION 'audit_auditevent is append-only: % may only be erased', name
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            IF NOT (NEW.personal_salts ? name) AND (to_jsonb(NEW) -> name) IS DISTINCT FROM (erased -> name) THEN
                RAISE EXCEPTION 'audit_auditevent is append-only: % lost its salt but was not erased', name
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
        END LOOP;
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
        ("privacy", "0002_keys"),
        ("audit", "0004_personal_fields"),  # the trigger function below extends that one
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
