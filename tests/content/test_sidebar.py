"""The sidebar's reads go through the staff member's scope: their own customers only, phones masked for store staff,
tags editable within the scope; quick replies rendered for the open customer."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.test import Client

from siyu.content import links, services, sidebar
from siyu.customers import services as customer_services
from siyu.customers.models import CustomerTag
from siyu.loyalty import services as loyalty_services
from siyu.org.scope import scope_for_staff
from tests.conftest import Org

pytestmark = pytest.mark.django_db
EXTERNAL = "wmSidebar01"


@pytest.fixture
def customer(org: Org) -> int:
    person = customer_services.create_customer(
        enterprise_id=org.enterprise.pk, name="王芳", phone="13912345678", home_store_id=org.store_n1.pk,
        identities=[customer_services.IdentityInput(kind="wecom_external_userid", value=EXTERNAL, account="ww1")])
    customer_services.add_relationship(customer=person, staff=org.n1_staff, added_at=person.created_at)
    return int(person.pk)


def _as(staff: object) -> Client:
    client = Client()
    client.force_login(staff.user)  # type: ignore[attr-defined]
    return client


def test_own_customer_with_the_phone_masked(org: Org, customer: int) -> None:
    html = _as(org.n1_staff).get("/content/sidebar/contact/", {"external_userid": EXTERNAL}).content.decode()
    assert "王芳" in html and "139****5678" in html and "13912345678" not in html


def test_managers_see_only_the_customers_they_follow_themselves(org: Org, customer: int) -> None:
    """The sidebar sits beside one of the member's own chats: a manager (or HQ) sees a customer of their store they
    do not follow as unknown, and their own customers with the phone their role shows."""
    for boss in (org.n1_manager, org.hq):
        html = _as(boss).get("/content/sidebar/contact/", {"external_userid": EXTERNAL}).content.decode()
        assert "王芳" not in html and 'id="sb-unknown"' in html
        assert _as(boss).get("/content/sidebar/replies/", {"q": "x", "customer": str(customer)}).status_code == 404
    person = customer_services.create_customer(enterprise_id=org.enterprise.pk, name="李雷", phone="13700001111",
                                               home_store_id=org.store_n1.pk)
    customer_services.add_relationship(customer=person, staff=org.n1_manager, added_at=person.created_at)
    client = _as(org.n1_manager)
    assert client.get("/content/sidebar/replies/", {"q": "", "customer": str(person.pk)}).status_code == 200
    contact = client.post(f"/content/sidebar/contact/{person.pk}/tags/", {"tag": "x"}).content.decode()
    assert "李雷" in contact and "13700001111" in contact  # a manager's role shows the whole number


def test_points_and_lots_of_the_open_customer(org: Org, customer: int) -> None:
    """The points panel reads loyalty's public summary: 120 + 30 added by HQ, 50 taken back = 100 available."""
    hq = scope_for_staff(org.hq)
    loyalty_services.adjust(scope=hq, customer_id=customer, points=120, reason="开业礼", key="p1")
    loyalty_services.adjust(scope=hq, customer_id=customer, points=30, reason="生日礼", key="p2")
    loyalty_services.adjust(scope=hq, customer_id=customer, points=-50, reason="更正", key="p3")
    html = _as(org.n1_staff).get("/content/sidebar/contact/", {"external_userid": EXTERNAL}).content.decode()
    assert 'data-points-balance="100"' in html
    lots = html[html.index('id="sb-lots"'):html.index("</ul>", html.index('id="sb-lots"'))]
    assert lots.count("<li>") == 2 and "· 70 ·" in lots and "· 30 ·" in lots  # the oldest lot paid the 50
    assert 'id="sb-tier"' not in html  # no tier while loyalty has none


def test_a_tier_is_shown_when_loyalty_offers_one(org: Org, customer: int, monkeypatch: pytest.MonkeyPatch) -> None:
    panels = dict(sidebar._PANELS)
    panels["tier"] = lambda scope, customer_id: SimpleNamespace(name="金卡") if customer_id == customer else None
    monkeypatch.setattr(sidebar, "_PANELS", panels)
    html = _as(org.n1_staff).get("/content/sidebar/contact/", {"external_userid": EXTERNAL}).content.decode()
    assert '<span class="badge">金卡</span>' in html


def test_another_staff_members_customer_is_not_shown(org: Org, customer: int) -> None:
    html = _as(org.n2_staff).get("/content/sidebar/contact/", {"external_userid": EXTERNAL}).content.decode()
    assert "王芳" not in html and 'id="sb-unknown"' in html
    response = _as(org.n2_staff).post(f"/content/sidebar/contact/{customer}/tags/", {"tag": "1"})
    assert response.status_code == 404


def test_tags_are_edited_from_the_sidebar(org: Org, customer: int) -> None:
    group = customer_services.create_tag_group(enterprise_id=org.enterprise.pk, name="兴趣")
    tag = customer_services.create_tag(group=group, name="烘焙")
    client = _as(org.n1_staff)
    html = client.post(f"/content/sidebar/contact/{customer}/tags/", {"tag": str(tag.pk)}).content.decode()
    assert CustomerTag.objects.filter(customer_id=customer, tag=tag).exists() and "烘焙 ×" in html
    client.post(f"/content/sidebar/contact/{customer}/tags/", {"tag": str(tag.pk), "action": "remove"})
    assert not CustomerTag.objects.filter(customer_id=customer, tag=tag).exists()


def test_replies_show_missing_variables_and_offer_no_send_until_filled(org: Org, customer: int) -> None:
    services.create_script(scope=scope_for_staff(org.hq), data=services.ScriptInput(
        title="送券", scenario="repurchase",
        steps=[services.StepInput(step="cta", text="{customer_name}，送您{coupon}")]))
    client = _as(org.n1_staff)
    html = client.get("/content/sidebar/replies/", {"q": "送券", "customer": str(customer)}).content.decode()
    assert "王芳，送您" in html and 'class="missing"' in html and "sb-send" not in html and "{coupon}" not in html
    filled = client.get("/content/sidebar/replies/", {"q": "送券", "customer": str(customer),
                                                       "v_coupon": "满100减20券"}).content.decode()
    assert 'data-text="王芳，送您满100减20券"' in filled
    outsider = _as(org.n2_staff).get("/content/sidebar/replies/", {"q": "送券", "customer": str(customer)})
    assert outsider.status_code == 404


def test_a_link_material_is_sent_as_a_card_with_its_tracked_link(org: Org, customer: int) -> None:
    link = services.create_material(scope=scope_for_staff(org.hq), actor=None, data=services.MaterialInput(
        kind="link", title="秋季新品", text="满99包邮", url="https://shop.example.com/autumn"))
    answer = _as(org.n1_staff).post(f"/content/sidebar/media/{link.pk}/?customer={customer}")
    card = answer.json()
    assert answer.status_code == 200 and card["msgtype"] == "news"
    assert card["news"]["title"] == "秋季新品" and card["news"]["desc"] == "满99包邮"
    assert card["news"]["link"].startswith("http://testserver/l/")
    target = links.read(card["news"]["link"].rsplit("/", 1)[1])
    assert target == links.LinkTarget(org.enterprise.pk, link.pk, customer)
    # another member's customer is refused; so is a card with no chat open
    assert _as(org.n2_staff).post(f"/content/sidebar/media/{link.pk}/?customer={customer}").status_code == 404
    assert _as(org.n1_staff).post(f"/content/sidebar/media/{link.pk}/").json()["field"] == "customer"
