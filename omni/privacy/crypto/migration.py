"""Data-migration helpers: encrypt (and, going back, decrypt) a column of existing rows in place.

Used by the migrations that turn a plaintext column into an encrypted one (playground 0003,
mcp_servers 0002, tenants 0003). Rows are read and written in batches by primary key with plain
SQL, so the migration does not depend on the model classes of the time; values already sealed are
left alone, which makes a re-run (or a run after a partial one) safe.
"""

from __future__ import annotations

import json
from typing import Any

from omni.privacy.crypto import envelope
from omni.privacy.crypto.fields import blind_index

BATCH = 500


def _rows(cursor: Any, table: str, column: str, org_sql: str, last: Any, extra: str = "") -> list[tuple]:
    cursor.execute(
        f'SELECT t."id", {org_sql}, t."{column}"{extra} FROM "{table}" t '  # noqa: S608
        f'WHERE t."id" > %s AND t."{column}" IS NOT NULL ORDER BY t."id" LIMIT {BATCH}',
        [last],
    )
    return cursor.fetchall()


def encrypt_column(
    schema_editor: Any, table: str, column: str, *, org_sql: str = 't."organization_id"', first_id: Any = 0
) -> int:
    """Seal every plaintext value of ``table.column`` with its row's organization key."""
    done = 0
    with schema_editor.connection.cursor() as cursor:
        last = first_id
        while rows := _rows(cursor, table, column, org_sql, last):
            for pk, org_id, value in rows:
                last = pk
                if envelope.is_sealed(value):
                    continue
                if not isinstance(value, str):  # SQLite may hand back the JSON already parsed
                    value = json.dumps(value)
                sealed = envelope.seal(value.encode(), org_id)
                cursor.execute(f'UPDATE "{table}" SET "{column}" = %s WHERE "id" = %s', [sealed, pk])  # noqa: S608
                done += 1
    return done


def decrypt_column(schema_editor: Any, table: str, column: str, *, first_id: Any = 0) -> int:
    """The reverse: replace every sealed value by its plaintext (refuses values of destroyed keys)."""
    done = 0
    with schema_editor.connection.cursor() as cursor:
        last = first_id
        while rows := _rows(cursor, table, column, "NULL", last):
            for pk, _org, value in rows:
                last = pk
                if envelope.is_sealed(value):
                    plain = envelope.open_token(value).decode()
                    cursor.execute(f'UPDATE "{table}" SET "{column}" = %s WHERE "id" = %s', [plain, pk])  # noqa: S608
                    done += 1
        if schema_editor.connection.vendor == "postgresql":
            # Fire the deferred foreign-key checks of these updates now: the reverse migration
            # alters the column next, which PostgreSQL refuses while trigger events are pending.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    return done


def index_column(schema_editor: Any, table: str, source: str, target: str, *, first_id: Any = "") -> int:
    """Fill a blind index column from a (still plaintext) source column."""
    done = 0
    with schema_editor.connection.cursor() as cursor:
        last = first_id
        while rows := _rows(cursor, table, source, 't."organization_id"', last):
            for pk, org_id, value in rows:
                last = pk
                if envelope.is_sealed(value):
                    value = envelope.open_token(value).decode()
                cursor.execute(
                    f'UPDATE "{table}" SET "{target}" = %s WHERE "id" = %s',  # noqa: S608
                    [blind_index(org_id, value.strip().lower()), pk],
                )
                done += 1
    return done
