"""UGC: a mall customer submits a photo (checked like every upload, created once per Idempotency-Key); HQ approves
it into the library and its submitter is rewarded exactly once, or rejects it with a reason."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from siyu.content import services
from siyu.content.models import Material, Submission
from siyu.customers import services as customer_services
from siyu.orders.models import StorefrontSession
from tests.conftest import Org
from tests.content.helpers import HTML, png, upload

pytestmark = pytest.mark.django_db
TOKEN = "sf_ugc-test-token-0001"


@pytest.fixture
def shopper(org: Org) -> Client:
    customer = customer_services.create_customer(enterprise_id=org.enterprise.pk, name="王芳",
                                                 home_store_id=org.store_n1.pk)
    now = timezone.now()
    StorefrontSession.objects.create(enterprise_id=org.enterprise.pk, customer_id=customer.pk, app_id="wxmall",
                                     openid="o_ugc", token_hash=hashlib.sha256(TOKEN.encode()).hexdigest(),
                                     created_at=now, expires_at=now + timedelta(days=1))
    return Client(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")


@pytest.fixture
def rewards() -> Iterator[list[tuple[int, int, str]]]:
    granted: list[tuple[int, int, str]] = []
    services.register_ugc_reward("test", lambda ent, customer, key: granted.append((ent, customer, key)))
    yield granted
    services.unregister_ugc_reward("test")


def _submit(shopper: Client, key: str | None, **fields: object) -> tuple[int, dict[str, object]]:
    headers = {"Idempotency-Key": key} if key else {}
    response = shopper.post("/api/storefront/ugc", fields, headers=headers)
    return response.status_code, response.json()


def test_a_photo_is_submitted_once_per_key(shopper: Client) -> None:
    status, first = _submit(shopper, "k1", kind="photo", text="新锅很好用", file=upload("锅.png", png(300, 200)))
    assert status == 201 and first["has_photo"] is True and first["status"] == "pending"
    status, again = _submit(shopper, "k1", kind="photo", text="新锅很好用", file=upload("锅.png", png(300, 200)))
    assert (status, again["id"]) == (201, first["id"]) and Submission.objects.count() == 1
    assert _submit(shopper, None, kind="review", text="不错")[0] == 400
    status, refused = _submit(shopper, "k2", kind="photo", file=upload("x.png", HTML))
    assert (status, refused["code"]) == (422, "wrong_type")
    assert _submit(shopper, "k3", kind="photo", text="没图")[1]["field"] == "file"
    assert [s["id"] for s in shopper.get("/api/storefront/ugc").json()] == [first["id"]]


def test_approval_enters_the_library_and_rewards_once(org: Org, shopper: Client, hq_api: Client,
                                                      staff_api: Client, rewards: list[tuple[int, int, str]]) -> None:
    _status, sub = _submit(shopper, "k1", kind="photo", text="新锅很好用", file=upload("锅.png", png(300, 200)))
    assert staff_api.post(f"/api/content/ugc/{sub['id']}/approve").status_code == 404  # not their customer
    approved = hq_api.post(f"/api/content/ugc/{sub['id']}/approve")
    assert approved.status_code == 200, approved.json()
    again = hq_api.post(f"/api/content/ugc/{sub['id']}/approve")
    assert (again.status_code, again.json()["code"]) == (409, "already_reviewed")
    row = Submission.objects.get()
    assert rewards == [(org.enterprise.pk, row.customer_id, f"ugc:{row.pk}")]
    material = Material.objects.get(pk=approved.json()["material_id"])
    assert (material.kind, material.text, material.width, material.file) == ("image", "新锅很好用", 300, row.file)
    assert hq_api.get("/api/content/materials").json()["total"] == 1


def test_rejection_needs_a_reason_and_is_final(shopper: Client, hq_api: Client,
                                               rewards: list[tuple[int, int, str]]) -> None:
    _status, sub = _submit(shopper, "k1", kind="review", text="一般")
    url = f"/api/content/ugc/{sub['id']}/reject"
    assert hq_api.post(url, {"reason": " "}, content_type="application/json").status_code == 422
    rejected = hq_api.post(url, {"reason": "与商品无关"}, content_type="application/json").json()
    assert (rejected["status"], rejected["reason"]) == ("rejected", "与商品无关")
    assert hq_api.post(f"/api/content/ugc/{sub['id']}/approve").status_code == 409
    assert rewards == [] and Material.objects.count() == 0
    assert hq_api.get("/api/content/ugc", {"status": "rejected"}).json()["total"] == 1
