"""Referrals over HTTP and in the console: HQ creates campaigns (store staff are refused), bad input is a 4xx naming
its field with nothing written, saves are audited; a shopper joins and gets a share link and a poster (a PNG whose QR
is the share link), sees their progress and invitations (names masked), and claims a first-order link; the
campaign page shows the results in Chinese."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta
from typing import Any

import pytest
import segno
from django.test import Client
from django.utils import timezone
from PIL import Image

from siyu.core.models import AuditEntry
from siyu.orders.models import StorefrontSession
from siyu.referrals.models import Campaign, Invitation, Participant
from siyu.referrals.poster import qr_image
from tests.conftest import Org
from tests.factories import CustomerFactory
from tests.orders.helpers import build_shop
from tests.referrals.helpers import bring, points_shop, referral_points, scan

pytestmark = pytest.mark.django_db
TOKEN = "sf_referrals-token-0001"


def _body(**overrides: Any) -> dict[str, Any]:
    now = timezone.now()
    body: dict[str, Any] = {"kind": "task", "name": "三人成团", "starts_at": (now - timedelta(days=1)).isoformat(),
                            "ends_at": (now + timedelta(days=30)).isoformat(), "reward_points": 300,
                            "target_count": 3, "window_days": 7}
    body.update(overrides)
    return body


def _staff(org: Org, role: str = "hq") -> Client:
    client = Client()
    staff = org.hq if role == "hq" else org.n1_staff
    assert staff.user is not None
    client.force_login(staff.user)
    return client


def _shopper(enterprise_id: int, customer_id: int) -> Client:
    now = timezone.now()
    StorefrontSession.objects.create(enterprise_id=enterprise_id, customer_id=customer_id, app_id="wxmall",
                                     openid="o_referrals", token_hash=hashlib.sha256(TOKEN.encode()).hexdigest(),
                                     created_at=now, expires_at=now + timedelta(days=1))
    return Client(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")


def test_hq_creates_campaigns_and_store_staff_may_not(org: Org) -> None:
    refused = _staff(org, "store").post("/api/referrals/campaigns", _body(), content_type="application/json")
    assert refused.status_code == 403 and not Campaign.objects.exists()
    hq = _staff(org)
    made = hq.post("/api/referrals/campaigns", _body(), content_type="application/json")
    assert made.status_code == 201, made.content
    campaign = made.json()
    changed = hq.put(f"/api/referrals/campaigns/{campaign['id']}", _body(name="五人成团", target_count=5),
                     content_type="application/json")
    assert changed.status_code == 200 and changed.json()["target_count"] == 5
    assert [c["id"] for c in hq.get("/api/referrals/campaigns").json()] == [campaign["id"]]
    assert AuditEntry.objects.filter(action="referrals.campaign").count() == 2
    results = hq.get(f"/api/referrals/campaigns/{campaign['id']}/results").json()
    assert (results["participants"], results["conversions"], results["generations"]) == (0, 0, [])


@pytest.mark.parametrize(("change", "status", "field", "code"), [
    ({"target_count": 0}, 422, "target_count", "out_of_range"),
    ({"window_days": 0}, 422, "window_days", "out_of_range"),
    ({"kind": "invite", "reward_points": 0}, 422, "reward_points", "out_of_range"),
    ({"ends_at": (timezone.now() - timedelta(days=5)).isoformat()}, 422, "ends_at", "ends_before_start"),
    ({"conversion": "first_order"}, 422, "conversion", "task_needs_add_staff"),
    ({"reward_kind": "coupon"}, 422, "coupon_template_id", "coupon_required"),
    ({"coupon_template_id": 999999, "reward_kind": "coupon"}, 404, "template_id", "not_found"),
])
def test_bad_input_names_its_field_and_writes_nothing(org: Org, change: dict[str, Any], status: int, field: str,
                                                      code: str) -> None:
    answer = _staff(org).post("/api/referrals/campaigns", _body(**change), content_type="application/json")
    assert answer.status_code == status, answer.content
    assert (answer.json()["field"], answer.json()["code"]) == (field, code)
    assert not Campaign.objects.exists()


def test_a_shopper_joins_gets_a_poster_and_sees_progress(org: Org) -> None:
    shop = points_shop(build_shop(org))
    campaign = _staff(org).post("/api/referrals/campaigns", _body(), content_type="application/json").json()
    phone = _shopper(shop.enterprise_id, shop.customer.pk)
    joined = phone.post(f"/api/referrals/{campaign['id']}/join".replace("/api/", "/api/storefront/"))
    assert joined.status_code == 201, joined.content
    again = phone.post(f"/api/storefront/referrals/{campaign['id']}/join")
    assert again.json()["share_url"] == joined.json()["share_url"]
    participant = Participant.objects.get()
    assert joined.json()["share_url"].endswith(f"/referrals/r/{participant.token}/")
    png = Client().get(f"/referrals/r/{participant.token}/poster.png")
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(png.content)).size == (750, 1100)
    friend = bring(shop, participant, "王小明", timezone.now() - timedelta(hours=2))
    scan(shop, timezone.now() + timedelta(hours=21))  # 23 hours after the add
    assert [p["pending"] for p in phone.get("/api/storefront/referrals").json()] == [1]
    scan(shop, timezone.now() + timedelta(hours=25))
    mine = phone.get("/api/storefront/referrals").json()
    assert [(p["counted"], p["target"], p["completed"]) for p in mine] == [(1, 3, False)]
    invitations = phone.get(f"/api/storefront/referrals/{campaign['id']}/invitations").json()
    assert [(i["invitee"], i["status"]) for i in invitations] == [("王**", "counted")]
    assert Invitation.objects.get().invitee_id == friend.pk


def test_a_poster_qr_is_the_share_link() -> None:
    url = "http://127.0.0.1:8000/referrals/r/rf0011223344556677/"
    img = qr_image(url, size=200)
    matrix = [list(row) for row in segno.make(url, error="m", micro=False).matrix_iter(scale=1, border=4)]
    scale = img.width // len(matrix)
    drawn = [[img.getpixel((x * scale + scale // 2, y * scale + scale // 2)) == (0, 0, 0)
              for x in range(len(matrix))] for y in range(len(matrix))]
    assert drawn == [[bool(dark) for dark in row] for row in matrix]


def test_claiming_ones_own_first_order_link_is_a_409(org: Org) -> None:
    shop = points_shop(build_shop(org))
    campaign = _staff(org).post("/api/referrals/campaigns", _body(kind="invite", conversion="first_order",
                                                                  reward_points=100), content_type="application/json")
    phone = _shopper(shop.enterprise_id, shop.customer.pk)
    phone.post(f"/api/storefront/referrals/{campaign.json()['id']}/join")
    token = Participant.objects.get().token
    own = phone.post("/api/storefront/referrals/claim", {"token": token}, content_type="application/json")
    assert own.status_code == 409 and (own.json()["code"], own.json()["field"]) == ("self_invite", "token")
    unknown = phone.post("/api/storefront/referrals/claim", {"token": "rfnope"}, content_type="application/json")
    assert unknown.status_code == 404
    assert not Invitation.objects.exists()


def test_the_campaign_pages_read_in_chinese(org: Org) -> None:
    shop = points_shop(build_shop(org))
    hq = _staff(org)
    hq.cookies["django_language"] = "zh-hans"
    made = hq.post("/referrals/", {"kind": "task", "name": "任务宝", "starts_at": "2026-01-01T00:00",
                                   "ends_at": "2030-01-01T00:00", "conversion": "add_staff", "reward_kind": "points",
                                   "reward_points": "300", "target_count": "3", "window_days": "7",
                                   "per_inviter_cap": "0", "is_active": "on"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert made.status_code == 302, made.content.decode()[:2000]
    campaign = Campaign.objects.get()
    assert shop.customer.pk
    page = hq.get(f"/referrals/{campaign.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "裂变系数" in page and "邀请关系" in page
    bad = hq.post("/referrals/", {"kind": "task", "name": "x", "starts_at": "2026-01-01T00:00",
                                  "ends_at": "2025-01-01T00:00", "conversion": "add_staff", "reward_kind": "points",
                                  "reward_points": "300", "target_count": "3", "window_days": "7"},
                  HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert bad.status_code == 400 and Campaign.objects.count() == 1
    assert _staff(org, "store").get("/referrals/").status_code == 403


def test_assistance_over_http_start_help_once_and_refusals_as_codes(org: Org) -> None:
    shop = points_shop(build_shop(org))
    made = _staff(org).post("/api/referrals/campaigns", _body(kind="assist", conversion="help", name="好友助力",
                                                               target_count=1, window_hours=12, window_days=0),
                            content_type="application/json")
    assert made.status_code == 201, made.content
    campaign_id = made.json()["id"]
    starter = _shopper(shop.enterprise_id, shop.customer.pk)
    started = starter.post(f"/api/storefront/referrals/{campaign_id}/join")
    assert started.status_code == 201 and started.json()["target"] == 1 and started.json()["deadline_at"]
    token = Participant.objects.get().token
    own = starter.post("/api/storefront/referrals/help", {"token": token}, content_type="application/json")
    assert own.status_code == 409 and own.json()["code"] == "self_help" and own.json()["field"] == "token"
    StorefrontSession.objects.all().delete()
    friend = CustomerFactory.create(enterprise=org.enterprise, name="好友")
    helper = _shopper(shop.enterprise_id, friend.pk)
    seen = helper.get(f"/api/storefront/referrals/assist/{token}").json()
    assert (seen["starter"], seen["helped"], seen["helped_by_me"], seen["expired"]) == ("顾**", 0, False, False)
    helped = [helper.post("/api/storefront/referrals/help", {"token": token}, content_type="application/json")
              for _ in range(2)]
    assert [h.status_code for h in helped] == [201, 201]
    assert helped[1].json() == {"campaign_id": campaign_id, "helped": 1, "target": 1, "completed": True}
    assert referral_points(shop.customer) == 300
    bad = helper.post("/api/storefront/referrals/help", {"token": "rfunknown"}, content_type="application/json")
    assert bad.status_code == 404 and bad.json()["field"] == "token"
    results = _staff(org).get(f"/api/referrals/campaigns/{campaign_id}/results").json()
    assert (results["helps"], results["completed"], results["rewards"]) == (1, 1, 1)


@pytest.mark.parametrize(("change", "field", "code"), [
    ({"kind": "group", "conversion": "join_group"}, "group_code_id", "group_code_required"),
    ({"kind": "assist", "conversion": "help", "window_hours": 0}, "window_hours", "out_of_range"),
    ({"kind": "assist", "conversion": "add_staff", "window_hours": 5}, "conversion", "assist_needs_help"),
])
def test_group_and_assistance_bad_input_is_a_422_naming_its_field(org: Org, change: dict[str, Any], field: str,
                                                                  code: str) -> None:
    answer = _staff(org).post("/api/referrals/campaigns", _body(**change), content_type="application/json")
    assert answer.status_code == 422 and (answer.json()["field"], answer.json()["code"]) == (field, code)
    assert not Campaign.objects.exists()
