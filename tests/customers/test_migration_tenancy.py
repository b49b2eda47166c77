"""The tenancy migrations fill what existing rows lack: an identity gets its customer's enterprise; an audit row its
actor's enterprise, or the only enterprise there is.

Each test makes a database of its own (a file on SQLite, a database on the PostgreSQL server), migrates it only as far
as before those migrations, writes rows there, then applies the migrations under test (and the one that makes the
identity's enterprise required). The suite's test database is never migrated backwards: unapplying every app that
depends on customers 0002 and applying it all again cost minutes of CPU a test in each pass."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.utils import load_backend

pytestmark = pytest.mark.django_db(transaction=True)

ALIAS = "tenancy_migration"
BEFORE = [("customers", "0002_event_composite_indexes_only"), ("core", "0001_initial")]
UNDER_TEST = [("customers", "0004_identity_and_event_key_per_enterprise"), ("core", "0002_audit_entry_enterprise")]


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Any]:
    """A connection, registered as ALIAS, to an empty database beside the test database."""
    settings = {**connection.settings_dict}
    postgres = connection.vendor == "postgresql"
    if postgres:
        settings["NAME"] = f"siyu_migration_{uuid.uuid4().hex[:12]}"
        with connection._nodb_cursor() as cursor:  # noqa: SLF001 - Django's own way to reach the server, not a db
            cursor.execute(f'CREATE DATABASE "{settings["NAME"]}"')
    else:
        settings["NAME"] = str(tmp_path / "migration.sqlite3")
    wrapper = load_backend(settings["ENGINE"]).DatabaseWrapper(settings, ALIAS)
    connections[ALIAS] = wrapper
    try:
        yield wrapper
    finally:
        wrapper.close()
        del connections[ALIAS]
        if postgres:
            with connection._nodb_cursor() as cursor:  # noqa: SLF001
                cursor.execute(f'DROP DATABASE IF EXISTS "{settings["NAME"]}"')


def _migrate(db: Any, targets: list[tuple[str, str]]) -> Any:
    """Migrate `db` to `targets` and return the models there."""
    MigrationExecutor(db).migrate(targets)
    return MigrationExecutor(db).loader.project_state(targets).apps


def test_existing_identities_and_audit_rows_are_attributed(scratch: Any) -> None:
    old = _migrate(scratch, BEFORE)
    enterprise, customer, identity = (old.get_model(*m).objects.using(ALIAS) for m in (
        ("org", "Enterprise"), ("customers", "Customer"), ("customers", "Identity")))
    user, staff = old.get_model("auth", "User").objects.using(ALIAS), old.get_model("org", "Staff").objects.using(ALIAS)
    entry = old.get_model("core", "AuditEntry").objects.using(ALIAS)
    brand = enterprise.create(name="Brand", code="brand")
    first = customer.create(enterprise=brand, name="A", created_at="2026-01-01T00:00:00Z")
    identity.create(customer=first, kind="phone", value="13900000001")
    operator = user.create(username="op")
    staff.create(enterprise=brand, user=operator, name="op", role="hq_admin")
    entry.create(actor=operator, action="a", target_type="t", target_id="1")
    entry.create(actor=None, action="b", target_type="t", target_id="2")

    new = _migrate(scratch, UNDER_TEST)
    identities = new.get_model("customers", "Identity").objects.using(ALIAS)
    assert list(identities.values_list("enterprise_id", flat=True)) == [brand.pk]
    assert sorted(new.get_model("core", "AuditEntry").objects.using(ALIAS).values_list("action", "enterprise_id")) \
        == [("a", brand.pk), ("b", brand.pk)]


def test_with_two_enterprises_only_the_actors_rows_are_attributed(scratch: Any) -> None:
    old = _migrate(scratch, BEFORE)
    enterprise, user = old.get_model("org", "Enterprise").objects.using(ALIAS), \
        old.get_model("auth", "User").objects.using(ALIAS)
    staff = old.get_model("org", "Staff").objects.using(ALIAS)
    entry = old.get_model("core", "AuditEntry").objects.using(ALIAS)
    brand, other = (enterprise.create(name=c, code=c) for c in ("brand", "other"))
    operator = user.create(username="op")
    staff.create(enterprise=other, user=operator, name="op", role="hq_admin")
    entry.create(actor=operator, action="a", target_type="t", target_id="1")
    entry.create(actor=None, action="b", target_type="t", target_id="2")

    new = _migrate(scratch, UNDER_TEST)
    assert brand.pk != other.pk
    assert sorted(new.get_model("core", "AuditEntry").objects.using(ALIAS).values_list("action", "enterprise_id")) \
        == [("a", other.pk), ("b", None)]
