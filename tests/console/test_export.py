from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from django.utils import timezone

from siyu.core.models import AuditEntry
from siyu.customers import services
from tests.conftest import Org
from tests.console.conftest import People

pytestmark = pytest.mark.django_db


def export(client: Client, **params: str | int) -> list[list[str]]:
    response = client.get("/customers/export.csv", params)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="customers-')
    body = b"".join(response.streaming_content).decode("utf-8")  # type: ignore[attr-defined]
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


def test_export_holds_only_the_callers_customers(client: Client, org: Org, people: People) -> None:
    assert org.n1_staff.user is not None
    client.force_login(org.n1_staff.user)
    rows = export(client)
    assert rows[0][:3] == ["ID", "姓名", "手机号"]
    assert [row[1] for row in rows[1:]] == ["Ada Wang"]
    ada = rows[1]
    assert ada[0] == str(people.ada.pk) and ada[2] == "138****0001" and ada[7] == "VIP"  # masked for store staff
    assert AuditEntry.objects.filter(action="customer.export", actor=org.n1_staff.user).count() == 1


def test_export_follows_the_filter(client: Client, org: Org, people: People) -> None:
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    assert {row[1] for row in export(client)[1:]} == {"Ada Wang", "Bob Li", "Cai Zhang"}
    assert {row[1] for row in export(client, channel="wecom")[1:]} == {"Ada Wang", "Cai Zhang"}
    assert {row[1] for row in export(client, tag=people.vip.pk)[1:]} == {"Ada Wang"}


def test_export_defuses_spreadsheet_formulas(client: Client, org: Org) -> None:
    services.create_customer(enterprise_id=org.enterprise.pk, name="=HYPERLINK(1)", created_at=timezone.now())
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    names = [row[1] for row in export(client)[1:]]
    assert names == ["'=HYPERLINK(1)"]
