"""The tenancy migrations fill what existing rows lack: an identity gets its customer's enterprise; an audit row its
actor's enterprise, or the only enterprise there is. Run backwards to before them, rows written, then forwards."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("customers", "0002_event_composite_indexes_only"), ("core", "0001_initial")]


def _migrate(targets: list[tuple[str, str]] | None) -> Any:
    """Migrate to `targets` (None: every app's latest, as the test database was) and return the models there."""
    executor = MigrationExecutor(connection)
    wanted = targets or executor.loader.graph.leaf_nodes()
    executor.migrate(wanted)
    return MigrationExecutor(connection).loader.project_state(wanted).apps


def test_existing_identities_and_audit_rows_are_attributed() -> None:
    old = _migrate(BEFORE)
    enterprise, customer, identity = (old.get_model(*m) for m in (
        ("org", "Enterprise"), ("customers", "Customer"), ("customers", "Identity")))
    user, staff = old.get_model("auth", "User"), old.get_model("org", "Staff")
    entry = old.get_model("core", "AuditEntry")
    brand = enterprise.objects.create(name="Brand", code="brand")
    first = customer.objects.create(enterprise=brand, name="A", created_at="2026-01-01T00:00:00Z")
    identity.objects.create(customer=first, kind="phone", value="13900000001")
    operator = user.objects.create(username="op")
    staff.objects.create(enterprise=brand, user=operator, name="op", role="hq_admin")
    entry.objects.create(actor=operator, action="a", target_type="t", target_id="1")
    entry.objects.create(actor=None, action="b", target_type="t", target_id="2")

    new = _migrate(None)
    assert list(new.get_model("customers", "Identity").objects.values_list("enterprise_id", flat=True)) == [brand.pk]
    assert sorted(new.get_model("core", "AuditEntry").objects.values_list("action", "enterprise_id")) == [
        ("a", brand.pk), ("b", brand.pk)]


def test_with_two_enterprises_only_the_actors_rows_are_attributed() -> None:
    old = _migrate(BEFORE)
    enterprise, user = old.get_model("org", "Enterprise"), old.get_model("auth", "User")
    staff, entry = old.get_model("org", "Staff"), old.get_model("core", "AuditEntry")
    brand, other = (enterprise.objects.create(name=c, code=c) for c in ("brand", "other"))
    operator = user.objects.create(username="op")
    staff.objects.create(enterprise=other, user=operator, name="op", role="hq_admin")
    entry.objects.create(actor=operator, action="a", target_type="t", target_id="1")
    entry.objects.create(actor=None, action="b", target_type="t", target_id="2")

    new = _migrate(None)
    assert brand.pk != other.pk
    assert sorted(new.get_model("core", "AuditEntry").objects.values_list("action", "enterprise_id")) == [
        ("a", other.pk), ("b", None)]
