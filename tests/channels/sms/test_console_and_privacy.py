"""The SMS console page (scoped, masked for store staff, zh-hans) and the personal-data export and erasure."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from siyu.channels.sms.models import SmsCallback, SmsMessage, SmsPurpose, SmsReply, SmsStatus
from siyu.customers import personal_data
from siyu.customers.models import Customer
from siyu.org.scope import Scope
from tests.channels.sms.conftest import customer
from tests.conftest import Org
from tests.factories import RelationshipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def texts(org: Org) -> dict[str, SmsMessage]:
    mine = customer(org.enterprise, "13800001111", granted=False, name="Ada")
    RelationshipFactory.create(customer=mine, staff=org.n1_staff)
    theirs = customer(org.enterprise, "13800002222", granted=False, name="Bo")
    RelationshipFactory.create(customer=theirs, staff=org.s1_staff)

    def text(key: str, phone: str, cust: Customer | None, status: str) -> SmsMessage:
        return SmsMessage.objects.create(enterprise=org.enterprise, key=key, customer=cust, phone=phone,
                                         text=f"text {key}", purpose=SmsPurpose.MARKETING, status=status)

    return {"mine": text("a", "13800001111", mine, SmsStatus.DELIVERED),
            "theirs": text("b", "13800002222", theirs, SmsStatus.FAILED),
            "nobody": text("c", "13800003333", None, SmsStatus.SENT)}


def _page(org_user: object, **params: str) -> str:
    client = Client()
    client.force_login(org_user)  # type: ignore[arg-type]
    response = client.get("/channels/sms/", params, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 200
    return response.content.decode()


def test_hq_sees_every_message_and_staff_only_their_customers_masked(org: Org, texts: dict[str, SmsMessage]) -> None:
    hq = _page(org.hq.user)
    assert all(p in hq for p in ("13800001111", "13800002222", "13800003333"))
    assert "短信" in hq and 'data-kpi="delivered"' in hq
    staff = _page(org.n1_staff.user)
    assert "138****1111" in staff and "13800001111" not in staff
    assert "2222" not in staff and "3333" not in staff
    failed = _page(org.hq.user, status="failed")
    assert "13800002222" in failed and "13800001111" not in failed


def test_export_and_erasure_cover_sms(org: Org, texts: dict[str, SmsMessage]) -> None:
    ada = texts["mine"].customer
    assert ada is not None
    # a text to her number before it was linked to her, her reply, and the raw callback that carried it
    SmsMessage.objects.create(enterprise=org.enterprise, key="d", phone="13800001111", text="before",
                              purpose=SmsPurpose.NOTICE)
    SmsReply.objects.create(enterprise=org.enterprise, provider_message_id="mo1", phone="13800001111", text="TD",
                            opt_out=True, received_at=texts["mine"].created_at)
    SmsCallback.objects.create(enterprise=org.enterprise, kind="reply",
                               body=json.dumps({"phone": "13800001111", "text": "TD"}))
    hq = Scope.hq(org.enterprise.pk)
    exported = personal_data.export(scope=hq, customer_id=ada.pk)
    rows = exported["sections"]["sms"]["rows"]
    assert sorted((r["sent"], r["text"]) for r in rows) == [(False, "TD"), (True, "before"), (True, "text a")]
    personal_data.erase(scope=hq, customer_id=ada.pk, reason="PIPL request", confirm=ada.pk)
    assert not SmsMessage.objects.filter(phone="13800001111").exists()
    assert SmsMessage.objects.get(key="a").status == "delivered"  # the outcome stays for the figures
    assert not SmsMessage.objects.filter(text__in=["text a", "before"]).exists()
    assert not SmsReply.objects.filter(phone="13800001111").exists()
    assert not SmsCallback.objects.filter(body__contains="13800001111").exists()
    assert SmsMessage.objects.get(key="b").phone == "13800002222"  # nobody else's
