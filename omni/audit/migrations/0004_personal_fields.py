"""Chain version 2: personal fields hashed through salted digests (see ``omni.audit.chain``), and
on PostgreSQL a trigger that also allows the one update erasure makes: personal fields of a
version-2 row replaced by their markers while their salts are dropped, nothing else changed."""

from django.db import migrations, models

CREATE = r"""
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

RESTORE = r"""
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


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def restore(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(RESTORE, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_spool")]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="chain_version",
            field=models.PositiveSmallIntegerField(default=1, editable=False),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="personal",
            field=models.JSONField(blank=True, default=dict, editable=False),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="personal_salts",
            field=models.JSONField(blank=True, default=dict, editable=False),
        ),
        migrations.RunPython(create, restore),
    ]
