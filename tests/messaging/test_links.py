"""Tracked links (issue 28): each link of a campaign text becomes a short link of its own per delivery, `/c/<token>`,
which redirects (302) to the original; a bad link is refused when the campaign is created; an unknown token is a 404;
a click counts once per link and gap (first time and count), robots and HEAD uncounted; results per variant/channel."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client

from simulator.state import Simulator
from siyu.core.errors import ValidationFailed
from siyu.messaging import queries, services
from siyu.messaging.models import CampaignLink, Delivery
from siyu.messaging.services import CampaignInput
from siyu.org.scope import Scope
from tests.conftest import Org
from tests.messaging.conftest import MORNING, Accounts, Clock
from tests.messaging.helpers import make_customer
from tests.messaging.kit import sim, sms_campaign

__all__ = ["sim"]

SALE = "https://brand.example.com/sale?a=1&b=2"
SHOP = "http://shop.example.com/x"
PERSON = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) MicroMessenger/8.0.40"
SHORT = re.compile(r"/c/([A-Za-z0-9_-]{16})")


@pytest.mark.parametrize("text", ["看看 https://exa_mple..com/x", "去 http://999.1.1.1/", "链接 https://-x-.com/"])
def test_a_bad_link_is_refused_at_creation(org: Org, hq: Scope, text: str) -> None:
    data = CampaignInput(name="x", audience_kind="list", customer_ids=[1], channels=["sms"], content={"sms": text})
    with pytest.raises(ValidationFailed) as caught:
        services.create_campaign(scope=hq, data=data)
    assert (caught.value.code, caught.value.field, caught.value.index) == ("invalid_url", "content.sms", 0)


def test_a_bad_link_in_a_variant_is_refused_through_the_api(org: Org) -> None:
    client = Client()
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    body = {"name": "x", "audience_kind": "list", "customer_ids": [1], "channels": ["sms"],
            "content": {"sms": "hi"}, "variants": [{"name": "A"}, {"name": "B", "content": {"sms": "http://a b"}}]}
    answer = client.post("/api/campaigns", body, content_type="application/json")
    assert answer.status_code == 422
    assert answer.json()["code"] == "invalid_url" and answer.json()["field"] == "variants.1.content.sms"


def test_each_delivery_gets_its_own_short_links_that_redirect(org: Org, hq: Scope, accounts: Accounts,
                                                              clock: Clock, sim: Simulator) -> None:
    a = make_customer(org, name="王芳", phone=True, sms_consent=True)
    b = make_customer(org, name="李雷", phone=True, sms_consent=True)
    sms_campaign(hq, accounts, [a.pk, b.pk], f"{{name}}: 上新 {SALE}，另见 {SHOP}。")
    assert services.send_due() == 2
    texts = {c.pk: sim.sms.messages(c.phone) for c in (a, b)}
    tokens = {pk: SHORT.findall(t[0]) for pk, t in texts.items()}
    assert all(len(t) == 2 for t in tokens.values())
    assert len({tok for pair in tokens.values() for tok in pair}) == 4  # unique per delivery and link
    assert texts[a.pk][0] == f"【品牌】王芳: 上新 /c/{tokens[a.pk][0]}，另见 /c/{tokens[a.pk][1]}。"
    client = Client()
    first = client.get(f"/c/{tokens[a.pk][0]}", HTTP_USER_AGENT=PERSON)
    second = client.get(f"/c/{tokens[a.pk][1]}", HTTP_USER_AGENT=PERSON)
    assert (first.status_code, first["Location"]) == (302, SALE)
    assert (second.status_code, second["Location"]) == (302, SHOP)


def test_clicks_count_once_per_gap_and_not_for_robots(org: Org, hq: Scope, accounts: Accounts, clock: Clock,
                                                      sim: Simulator) -> None:
    a = make_customer(org, phone=True, sms_consent=True)
    b = make_customer(org, phone=True, sms_consent=True)
    sms_campaign(hq, accounts, [a.pk, b.pk], f"上新 {SALE}")
    services.send_due()
    token_a = CampaignLink.objects.get(delivery__customer=a).token
    token_b = CampaignLink.objects.get(delivery__customer=b).token
    client = Client()
    for _ in range(5):  # refreshed within the gap: one click
        assert client.get(f"/c/{token_a}", HTTP_USER_AGENT=PERSON).status_code == 302
    assert client.head(f"/c/{token_b}", HTTP_USER_AGENT=PERSON).status_code == 302
    assert client.get(f"/c/{token_b}", HTTP_USER_AGENT="Googlebot/2.1 (+http://www.google.com/bot.html)"
                      ).status_code == 302
    link_a = CampaignLink.objects.get(token=token_a)
    assert (link_a.clicks, link_a.first_clicked_at) == (1, MORNING)
    assert CampaignLink.objects.get(token=token_b).clicks == 0
    clock.tick(timedelta(seconds=11))
    client.get(f"/c/{token_a}", HTTP_USER_AGENT=PERSON)
    link_a.refresh_from_db()
    assert (link_a.clicks, link_a.first_clicked_at) == (2, MORNING)
    rows = queries.click_results(hq, Delivery.objects.get(customer=a).campaign_id)
    assert [(r.variant, r.channel, r.recipients, r.clicked, r.clicks) for r in rows] == [("A", "sms", 2, 1, 2)]


def test_unknown_tokens_and_writes_are_refused(org: Org) -> None:
    client = Client()
    assert client.get("/c/AAAAAAAAAAAAAAAA", HTTP_USER_AGENT=PERSON).status_code == 404
    assert client.get("/c/not-a-token", HTTP_USER_AGENT=PERSON).status_code == 404
    assert client.post("/c/AAAAAAAAAAAAAAAA").status_code == 405
