"""The sidebar's reads go through the staff member's scope: their own customers only, phones masked for store staff,
tags editable within the scope; quick replies rendered for the open customer."""

from __future__ import annotations

import pytest
from django.test import Client

from siyu.content import services
from siyu.customers import services as customer_services
from siyu.customers.models import CustomerTag
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
    manager = _as(org.n1_manager).get("/content/sidebar/contact/", {"external_userid": EXTERNAL}).content.decode()
    assert "13912345678" in manager


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
