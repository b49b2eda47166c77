"""PIPL duties on a hand-made set of customers: consent per channel (recorded, shown, honoured by a set-based filter),
a customer's data export (JSON and a PDF whose text is read back), and erasure (what goes, what stays, once, HQ only,
and nothing written on a refusal)."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pypdf
import pytest
from django.apps import apps
from django.db import connection
from django.db.models import ForeignKey
from django.utils import timezone

from siyu.core.models import AuditEntry
from siyu.customers import consent, personal_data, services
from siyu.customers.models import (
    Consent,
    Customer,
    CustomerTag,
    Erasure,
    Event,
    Identity,
    MarketingChannel,
    Relationship,
)
from siyu.ops import personal_data as inventory
from siyu.orders.models import Order
from siyu.org.models import Staff
from siyu.org.scope import Scope, scope_for_staff
from tests.api.conftest import Api, api_as  # noqa: F401 - the fixture
from tests.conftest import Org
from tests.console.conftest import People, people  # noqa: F401 - the fixture
from tests.factories import EnterpriseFactory
from tests.races import race

pytestmark = pytest.mark.django_db

GRANT_TEXT = "我同意接收品牌的短信优惠通知，可随时回复TD退订。"


def _hq(org: Org) -> Scope:
    return scope_for_staff(org.hq)


def _record(org: Org, customer: Customer, channel: str, granted: bool, minutes_ago: int) -> Consent:
    row, _created = consent.record(
        scope=_hq(org), customer_id=customer.pk, channel=channel, granted=granted, method="paper",
        text=GRANT_TEXT if granted else "", recorded_at=timezone.now() - timedelta(minutes=minutes_ago),
    )
    return row


def _allowed(org: Org, channel: str) -> set[str]:
    qs = Customer.objects.filter(enterprise=org.enterprise).filter(consent.allowed_filter(channel, customer_ref="pk"))
    return set(qs.values_list("name", flat=True))


# ---------------------------------------------------------------------------------------------------------------
# Consent


def test_the_latest_record_decides_and_defaults_fill_the_rest(org: Org, people: People) -> None:  # noqa: F811
    # WeCom: Ada has no record (allowed by default), Bob withdrew, Cai withdrew and later granted again.
    _record(org, people.bob, "wecom", False, 30)
    _record(org, people.cai, "wecom", False, 30)
    _record(org, people.cai, "wecom", True, 10)
    # SMS: Ada granted, Bob has no record (needs a grant), Cai granted and later withdrew. A paper form entered late:
    # recorded now for a time before Cai's withdrawal, so the withdrawal stays the latest.
    _record(org, people.ada, "sms", True, 5)
    _record(org, people.cai, "sms", True, 50)
    _record(org, people.cai, "sms", False, 20)
    _record(org, people.cai, "sms", True, 40)

    assert _allowed(org, "wecom") == {"Ada Wang", "Cai Zhang"}
    assert _allowed(org, "sms") == {"Ada Wang"}
    assert _allowed(org, "official_account") == {"Ada Wang", "Bob Li", "Cai Zhang"}
    assert _allowed(org, "mini_program") == set()
    states = {s.channel: s for s in consent.states(people.cai.pk)}
    assert (states["sms"].granted, states["sms"].by_default, states["sms"].method) == (False, False, "paper")
    assert (states["official_account"].granted, states["official_account"].by_default) == (True, True)


def test_a_repeated_key_records_once_and_the_event_and_audit_are_written(org: Org, people: People) -> None:  # noqa: F811
    first, created = consent.record(scope=_hq(org), customer_id=people.ada.pk, channel="sms", granted=True,
                                    method="storefront", text=GRANT_TEXT, text_version="v3",
                                    evidence={"ip": "203.0.113.7"}, idempotency_key="form-42")
    again, created_again = consent.record(scope=_hq(org), customer_id=people.ada.pk, channel="sms", granted=True,
                                          method="storefront", text=GRANT_TEXT, idempotency_key="form-42")
    assert (created, created_again, again.pk) == (True, False, first.pk)
    assert Consent.objects.filter(customer=people.ada).count() == 1
    assert Event.objects.filter(customer=people.ada, name="consent_changed").count() == 1
    assert AuditEntry.objects.filter(action="consent.record", target_id=str(people.ada.pk)).count() == 1


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"channel": "email"}, "channel", "invalid"),  # refused by the schema
        ({"method": "erasure"}, "method", "invalid_choice"),
        ({"text": ""}, "text", "required"),
        ({"text": "x" * 501}, "text", "invalid"),
        ({"recorded_at": "2099-01-01T00:00:00+08:00"}, "recorded_at", "in_future"),
        ({"evidence": {"ip": "1" * 201}}, "evidence.ip", "invalid"),
    ],
)
def test_bad_consent_input_is_a_field_error_and_nothing_is_written(
    org: Org, people: People, api_as: Callable[[Staff], Api], changes: dict[str, object], field: str, code: str,  # noqa: F811
) -> None:
    body = {"channel": "sms", "granted": True, "method": "paper", "text": GRANT_TEXT, **changes}
    response = api_as(org.hq).post(f"/api/customers/{people.ada.pk}/consents", body)
    assert response.status_code == 422, response.content
    if "field" in response.json():
        assert (response.json()["field"], response.json()["code"]) == (field, code)
    assert not Consent.objects.exists()


def test_consent_over_the_api_by_scope(org: Org, people: People, api_as: Callable[[Staff], Api]) -> None:  # noqa: F811
    staff = api_as(org.n1_staff)
    body = {"channel": "sms", "granted": True, "method": "paper", "text": GRANT_TEXT, "text_version": "2026-01"}
    made = staff.post(f"/api/customers/{people.ada.pk}/consents", body)
    assert made.status_code == 201, made.content
    sms = next(s for s in made.json()["states"] if s["channel"] == "sms")
    assert (sms["granted"], sms["by_default"], sms["method"]) == (True, False, "paper")
    assert staff.post(f"/api/customers/{people.bob.pk}/consents", body).status_code == 404  # not their customer
    assert api_as(org.hq).get(f"/api/customers/{people.ada.pk}/consents").json()["history"][0]["text_version"] == \
        "2026-01"
    other = EnterpriseFactory.create(code="other-brand")
    stranger = Customer.objects.create(enterprise=other, name="Stranger", created_at=timezone.now())
    assert api_as(org.hq).get(f"/api/customers/{stranger.pk}/consents").status_code == 404


# ---------------------------------------------------------------------------------------------------------------
# Export


def _order(org: Org, customer: Customer) -> Order:
    return Order.objects.create(
        enterprise=org.enterprise, customer=customer, order_no="SY20261207000001", status="paid",
        amount_fen=14950, paid_fen=14950, address={"name": "王小明", "phone": "13800000001", "line": "朝阳路1号"},
        buyer_note="请放门卫", created_at=timezone.now(),
    )


def test_the_export_holds_every_section_in_json_and_a_readable_pdf(
    org: Org, people: People, api_as: Callable[[Staff], Api]  # noqa: F811
) -> None:
    _order(org, people.ada)
    _record(org, people.ada, "sms", True, 5)
    manager = api_as(org.n1_manager)
    data = manager.get(f"/api/customers/{people.ada.pk}/personal-data").json()
    sections = data["sections"]
    assert set(sections) == set(personal_data.section_names())
    assert sections["profile"]["rows"][0]["phone"] == "13800000001"
    assert sorted((i["kind"], i["value"]) for i in sections["identities"]["rows"]) == [
        ("phone", "13800000001"), ("wecom_external_userid", "wmAda0001")]
    assert [r["staff__name"] for r in sections["relationships"]["rows"]] == ["n1_staff"]
    assert [t["tag__name"] for t in sections["tags"]["rows"]] == ["VIP"]
    assert sections["orders"]["rows"][0]["address"]["line"] == "朝阳路1号"
    assert sections["consents"]["rows"][0]["text"] == GRANT_TEXT
    assert AuditEntry.objects.filter(action="customer.personal_data_export").count() == 1

    pdf = manager.get(f"/api/customers/{people.ada.pk}/personal-data", format="pdf")
    assert pdf["Content-Type"] == "application/pdf"
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf.content)).pages)
    for expected in ("Ada Wang", "13800000001", "wmAda0001", "SY20261207000001", "朝阳路1号", "VIP"):
        assert expected in text


def test_store_staff_and_other_enterprises_get_no_export(
    org: Org, people: People, api_as: Callable[[Staff], Api]  # noqa: F811
) -> None:
    assert api_as(org.n1_staff).get(f"/api/customers/{people.ada.pk}/personal-data").status_code == 403
    assert api_as(org.n1_manager).get(f"/api/customers/{people.cai.pk}/personal-data").status_code == 404
    assert api_as(org.hq).get(f"/api/customers/{people.ada.pk}/personal-data", format="xml").status_code == 422
    assert not AuditEntry.objects.filter(action="customer.personal_data_export").exists()


# ---------------------------------------------------------------------------------------------------------------
# Erasure


def test_erasure_removes_what_identifies_and_keeps_the_business(
    org: Org, people: People, api_as: Callable[[Staff], Api]  # noqa: F811
) -> None:
    ada = people.ada
    order = _order(org, ada)
    services.append_event(enterprise_id=org.enterprise.pk, customer_id=ada.pk, name="message_received",
                          idempotency_key="m1", properties={"kind": "text", "text": "我的地址是朝阳路1号"})
    services.append_event(enterprise_id=org.enterprise.pk, customer_id=ada.pk, name="product_viewed",
                          idempotency_key="v1", properties={"product_id": 7})
    Relationship.objects.filter(customer=ada).update(remark="王姐 朝阳")
    hq = api_as(org.hq)

    assert api_as(org.n1_manager).post(f"/api/customers/{ada.pk}/erase",
                                       {"reason": "PIPL-1", "confirm": ada.pk}).status_code == 403
    wrong = hq.post(f"/api/customers/{ada.pk}/erase", {"reason": "PIPL-1", "confirm": ada.pk + 1})
    assert (wrong.status_code, wrong.json()["code"]) == (422, "confirm_mismatch")
    assert Identity.objects.filter(customer=ada).exists() and not Erasure.objects.exists()

    done = hq.post(f"/api/customers/{ada.pk}/erase", {"reason": "PIPL-1", "confirm": ada.pk})
    assert done.status_code == 200, done.content
    ada.refresh_from_db()
    assert (ada.name, ada.phone, ada.birthday, ada.erased_at is not None) == ("", "", None, True)
    assert not Identity.objects.filter(customer=ada).exists()
    assert not CustomerTag.objects.filter(customer=ada).exists()
    assert Relationship.objects.get(customer=ada).remark == ""
    message = Event.objects.get(customer=ada, name="message_received")
    assert message.properties == {"kind": "text"}
    assert Event.objects.get(customer=ada, name="product_viewed").properties == {"product_id": 7, "sku_id": None}
    order.refresh_from_db()
    assert (order.address, order.buyer_note, order.amount_fen, order.customer_id) == ({}, "", 14950, ada.pk)
    assert {s.channel: s.granted for s in consent.states(ada.pk)} == dict.fromkeys(MarketingChannel.values, False)
    assert "Ada Wang" not in _allowed(org, "wecom") and "" not in _allowed(org, "official_account")
    assert done.json()["counts"]["consents_withdrawn"] == len(MarketingChannel.values)
    assert AuditEntry.objects.filter(action="customer.erase", target_id=str(ada.pk)).count() == 1

    again = hq.post(f"/api/customers/{ada.pk}/erase", {"reason": "PIPL-1", "confirm": ada.pk})
    assert (again.status_code, again.json()["code"]) == (409, "already_erased")
    grant = hq.post(f"/api/customers/{ada.pk}/consents",
                    {"channel": "sms", "granted": True, "method": "paper", "text": GRANT_TEXT})
    assert (grant.status_code, grant.json()["code"]) == (409, "customer_erased")
    export = hq.get(f"/api/customers/{ada.pk}/personal-data").json()
    assert export["erased_at"] and export["sections"]["identities"]["rows"] == []
    assert "13800000001" not in str(export)


def test_a_merged_away_customer_names_the_survivor(org: Org, people: People) -> None:  # noqa: F811
    services.merge_customers(survivor=people.bob, absorbed=people.cai, reason="manual")
    with pytest.raises(Exception) as refused:
        personal_data.erase(scope=_hq(org), customer_id=people.cai.pk, reason="r", confirm=people.cai.pk)
    assert getattr(refused.value, "code", "") == "customer_merged"
    assert str(people.bob.pk) in str(getattr(refused.value, "message", ""))
    personal_data.erase(scope=_hq(org), customer_id=people.bob.pk, reason="r", confirm=people.bob.pk)
    people.cai.refresh_from_db()
    assert people.cai.erased_at is not None and people.cai.name == ""


def test_every_table_that_points_at_a_customer_is_in_the_inventory() -> None:
    """A new model with a reference to a customer must say what an export shows of it and what erasure does."""
    pointing = set()
    for model in apps.get_models():
        label = model._meta.label
        if label.startswith("customers.") or label.split(".")[0] not in {
                m.label for m in apps.get_app_configs() if m.name.startswith("siyu.")}:
            continue
        for field in model._meta.concrete_fields:
            if (isinstance(field, ForeignKey) and field.related_model is Customer) or field.name == "customer_id":
                pointing.add(label)
    missing = pointing - inventory.COVERED - set(inventory.DERIVED)
    assert not missing, f"add these to siyu/ops/personal_data.py: {sorted(missing)}"
    assert inventory.COVERED & set(inventory.DERIVED) == set()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_erasures_and_consent_keys_happen_once(org: Org, people: People) -> None:  # noqa: F811
    if connection.vendor != "postgresql":
        pytest.skip("row-level races need PostgreSQL")
    hq = _hq(org)
    ada, bob = people.ada.pk, people.bob.pk
    erased = race(4, lambda _i: personal_data.erase(scope=hq, customer_id=ada, reason="PIPL-race", confirm=ada))
    assert erased == Counter({"ok": 1, "already_erased": 3})
    assert Erasure.objects.filter(customer_id=ada).count() == 1
    assert Consent.objects.filter(customer_id=ada).count() == len(MarketingChannel.values)

    recorded = race(4, lambda _i: consent.record(scope=hq, customer_id=bob, channel="sms", granted=True,
                                                 method="storefront", text=GRANT_TEXT, idempotency_key="form-7"))
    assert recorded == Counter({"ok": 4})
    assert Consent.objects.filter(customer_id=bob).count() == 1
    assert Event.objects.filter(customer_id=bob, name="consent_changed").count() == 1
