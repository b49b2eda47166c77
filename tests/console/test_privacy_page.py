"""The consent and personal-data page: who sees which part, a paper consent recorded from the form (a refused one
shows its reason beside the field and writes nothing), the downloads, and erasure from the form, in Chinese."""

from __future__ import annotations

import pytest
from django.test import Client

from siyu.core.models import AuditEntry
from siyu.customers.models import Consent, Customer, Identity
from tests.conftest import Org
from tests.console.conftest import People, people  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


def _as(client: Client, staff: object) -> Client:
    user = getattr(staff, "user", None)
    assert user is not None
    client.force_login(user)
    return client


def test_store_staff_record_consent_but_neither_export_nor_erase(client: Client, org: Org, people: People) -> None:  # noqa: F811
    c = _as(client, org.n1_staff)
    page = c.get(f"/customers/{people.ada.pk}/privacy/").content.decode()
    assert 'id="consent-form"' in page and 'id="export-pdf"' not in page and 'id="erase-form"' not in page
    refused = c.post(f"/customers/{people.ada.pk}/privacy/consent/",
                     {"channel": "sms", "granted": "1", "method": "paper", "text": ""})
    assert refused.status_code == 422 and not Consent.objects.exists()
    made = c.post(f"/customers/{people.ada.pk}/privacy/consent/",
                  {"channel": "sms", "granted": "1", "method": "paper", "text": "同意接收短信"})
    assert made.status_code == 302
    assert Consent.objects.get().text == "同意接收短信"
    assert c.get(f"/customers/{people.ada.pk}/privacy/export/").status_code == 403
    assert c.post(f"/customers/{people.ada.pk}/privacy/erase/",
                  {"reason": "x", "confirm": people.ada.pk}).status_code == 403
    assert c.get(f"/customers/{people.bob.pk}/privacy/").status_code == 404  # not their customer


def test_hq_downloads_and_erases_from_the_page(client: Client, org: Org, people: People) -> None:  # noqa: F811
    c = _as(client, org.hq)
    pdf = c.get(f"/customers/{people.ada.pk}/privacy/export/?format=pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert c.get(f"/customers/{people.ada.pk}/privacy/export/?format=json").json()["customer_id"] == people.ada.pk
    assert AuditEntry.objects.filter(action="customer.personal_data_export").count() == 2

    wrong = c.post(f"/customers/{people.ada.pk}/privacy/erase/", {"reason": "PIPL-9", "confirm": people.bob.pk})
    assert wrong.status_code == 422 and "确认" in wrong.content.decode()
    assert Identity.objects.filter(customer=people.ada).exists()
    done = c.post(f"/customers/{people.ada.pk}/privacy/erase/", {"reason": "PIPL-9", "confirm": people.ada.pk})
    assert done.status_code == 302
    assert Customer.objects.get(pk=people.ada.pk).erased_at is not None
    page = c.get(f"/customers/{people.ada.pk}/privacy/").content.decode()
    assert 'id="erased-note"' in page and 'id="erase-form"' not in page and 'id="consent-form"' not in page
