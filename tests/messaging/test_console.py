"""Console: create a campaign from the form (a pasted list of phones), plan it (waterfall table), launch it."""

from __future__ import annotations

from django.test import Client

from siyu.messaging.models import Campaign
from tests.conftest import Org
from tests.messaging.helpers import make_customer


def test_create_plan_and_launch_from_the_console(org: Org) -> None:
    a = make_customer(org, phone=True, sms_consent=True)
    b = make_customer(org)
    client = Client()
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    assert client.get("/campaigns/").status_code == 200
    made = client.post("/campaigns/", {
        "name": "周末上新", "audience_kind": "list", "customer_list": f"{a.phone}\n{b.pk}\n13900000000",
        "tag_match": "any", "channel_1": "sms", "text_sms": "{name}，周末上新", "sms_sign": "品牌",
        "holdout_pct": 0, "attribution_days": 7})
    assert made.status_code == 302, made.content.decode()[:2000]
    campaign = Campaign.objects.get()
    assert campaign.customer_ids == [a.pk, b.pk]
    assert client.post(f"/campaigns/{campaign.pk}/plan/").status_code == 302
    page = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert 'id="plan-rows"' in page and 'id="waterfall"' in page and 'id="launch-btn"' in page
    assert client.post(f"/campaigns/{campaign.pk}/launch/").status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == "sending"
    staff = Client()
    assert org.n1_staff.user is not None
    staff.force_login(org.n1_staff.user)
    assert staff.post(f"/campaigns/{campaign.pk}/cancel/").status_code == 403
