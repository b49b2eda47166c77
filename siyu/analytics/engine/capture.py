"""Change capture on the OLTP database: triggers that note every UPDATE (and DELETE, where tracked) of a mirrored table
in analytics_change, so the copy follows changes that no `updated_at` would show: QuerySet.update() skips auto_now,
a merge moves events, identities and orders to the survivor in bulk UPDATEs, and deletions leave no row to compare.

Inserts need no trigger (they are read by id watermark), so bulk loads (the seed, event ingestion) pay nothing.
The engine installs the triggers when it builds the copy and checks they are still there as it refreshes: SQLite
drops a table's triggers when a migration rebuilds the table, and a missing trigger means that table is reloaded.
"""

from __future__ import annotations

from django.db import connections

from siyu.analytics.engine.tables import TableSpec
from siyu.analytics.models import Change

# Table names below come from model metadata, never from input.

PREFIX = "siyu_capture_"


def _change_table() -> str:
    return str(Change._meta.db_table)


def trigger_names(spec: TableSpec) -> list[str]:
    names = [f"{PREFIX}{spec.db_table}_u"]
    if spec.capture_deletes:
        names.append(f"{PREFIX}{spec.db_table}_d")
    return names


def _sqlite_statements(spec: TableSpec) -> list[str]:
    table, log = spec.db_table, _change_table()
    out = [
        f'CREATE TRIGGER IF NOT EXISTS "{PREFIX}{table}_u" AFTER UPDATE ON "{table}" BEGIN '  # noqa: S608
        f"INSERT INTO \"{log}\" (tbl, row_id) VALUES ('{table}', OLD.id); END"
    ]
    if spec.capture_deletes:
        out.append(
            f'CREATE TRIGGER IF NOT EXISTS "{PREFIX}{table}_d" AFTER DELETE ON "{table}" BEGIN '  # noqa: S608
            f"INSERT INTO \"{log}\" (tbl, row_id) VALUES ('{table}', OLD.id); END"
        )
    return out


def _postgres_statements(spec: TableSpec) -> list[str]:
    table = spec.db_table
    out = [
        f'CREATE OR REPLACE TRIGGER "{PREFIX}{table}_u" AFTER UPDATE ON "{table}" '
        f"FOR EACH ROW EXECUTE FUNCTION siyu_analytics_capture()"
    ]
    if spec.capture_deletes:
        out.append(
            f'CREATE OR REPLACE TRIGGER "{PREFIX}{table}_d" AFTER DELETE ON "{table}" '
            f"FOR EACH ROW EXECUTE FUNCTION siyu_analytics_capture()"
        )
    return out


def _postgres_function() -> str:
    return (
        "CREATE OR REPLACE FUNCTION siyu_analytics_capture() RETURNS trigger AS $$ BEGIN "  # noqa: S608
        f'INSERT INTO "{_change_table()}" (tbl, row_id) VALUES (TG_TABLE_NAME, OLD.id); RETURN NULL; END '
        "$$ LANGUAGE plpgsql"
    )


def installed(specs: list[TableSpec], using: str = "default") -> set[str]:
    """The capture triggers present now."""
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE %s", [f"{PREFIX}%"])
        else:
            cursor.execute("SELECT tgname FROM pg_trigger WHERE tgname LIKE %s", [f"{PREFIX}%"])
        return {str(row[0]) for row in cursor.fetchall()}


def missing(specs: list[TableSpec], using: str = "default") -> list[TableSpec]:
    present = installed(specs, using)
    return [spec for spec in specs if not set(trigger_names(spec)) <= present]


def install(specs: list[TableSpec], using: str = "default") -> None:
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_postgres_function())
        for spec in specs:
            statements = _sqlite_statements(spec) if connection.vendor == "sqlite" else _postgres_statements(spec)
            for statement in statements:
                cursor.execute(statement)


def uninstall(specs: list[TableSpec], using: str = "default") -> None:
    connection = connections[using]
    with connection.cursor() as cursor:
        for spec in specs:
            for name in trigger_names(spec):
                if connection.vendor == "sqlite":
                    cursor.execute(f'DROP TRIGGER IF EXISTS "{name}"')
                else:
                    cursor.execute(f'DROP TRIGGER IF EXISTS "{name}" ON "{spec.db_table}"')
