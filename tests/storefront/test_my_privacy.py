"""The mall customer's own consent and data: granting SMS with the text they saw (their address and browser kept as
evidence, a repeat key recording nothing more), withdrawing, and a copy of their data; another customer's data never
shows, and a staff token is refused."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from siyu.customers import services as customer_services
from siyu.customers.models import Consent
from siyu.orders.models import StorefrontSession
from tests.conftest import Org

pytestmark = pytest.mark.django_db
TOKEN = "sf_privacy-test-token-01"


@pytest.fixture
def shopper(org: Org) -> Client:
    customer = customer_services.create_customer(enterprise_id=org.enterprise.pk, name="王芳", phone="13900000002")
    customer_services.create_customer(enterprise_id=org.enterprise.pk, name="李雷", phone="13900000003")
    now = timezone.now()
    StorefrontSession.objects.create(enterprise_id=org.enterprise.pk, customer_id=customer.pk, app_id="wxmall",
                                     openid="o_privacy", token_hash=hashlib.sha256(TOKEN.encode()).hexdigest(),
                                     created_at=now, expires_at=now + timedelta(days=1))
    return Client(HTTP_AUTHORIZATION=f"Bearer {TOKEN}", HTTP_USER_AGENT="MicroMessenger/8.0")


def _post(shopper: Client, body: dict[str, object], key: str = "") -> tuple[int, object]:
    headers = {"Idempotency-Key": key} if key else {}
    response = shopper.post("/api/storefront/consents", json.dumps(body), content_type="application/json",
                            headers=headers)
    return response.status_code, response.json()


def _sms(states: object) -> dict[str, object]:
    assert isinstance(states, list)
    return next(s for s in states if s["channel"] == "sms")


def test_a_customer_grants_and_withdraws_sms_themselves(shopper: Client) -> None:
    assert _sms(shopper.get("/api/storefront/consents").json())["granted"] is False  # SMS needs a grant
    status, refused = _post(shopper, {"channel": "sms", "granted": True})
    assert (status, refused) == (422, {"code": "required", "message": "a grant needs the text the customer agreed "
                                       "to", "field": "text"})
    text = "同意接收会员短信，回复TD退订"
    status, states = _post(shopper, {"channel": "sms", "granted": True, "text": text, "text_version": "v1"}, "k1")
    assert status == 201 and _sms(states)["granted"] is True
    assert _post(shopper, {"channel": "sms", "granted": True, "text": text, "text_version": "v1"}, "k1")[0] == 200
    row = Consent.objects.get()
    assert (row.method, row.text, row.evidence["user_agent"], row.evidence["ip"]) == (
        "storefront", text, "MicroMessenger/8.0", "127.0.0.1")
    status, states = _post(shopper, {"channel": "sms", "granted": False}, "k2")
    assert status == 201 and _sms(states)["granted"] is False and Consent.objects.count() == 2


def test_my_data_is_mine_only(shopper: Client, org: Org) -> None:
    data = shopper.get("/api/storefront/personal-data").json()
    assert data["sections"]["profile"]["rows"][0]["phone"] == "13900000002"
    assert "13900000003" not in json.dumps(data, ensure_ascii=False)
    assert Client().get("/api/storefront/personal-data").status_code == 401
