from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from siyu.core.models import AuditEntry
from siyu.customers import services
from siyu.customers.models import CustomerTag
from tests.conftest import Org
from tests.console.conftest import People
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def listed_ids(html: str) -> set[int]:
    return {int(found) for found in re.findall(r'data-customer-id="(\d+)"', html)}


def signed_in(client: Client, staff: object) -> Client:
    client.force_login(staff.user)  # type: ignore[attr-defined]
    return client


def test_every_page_renders_for_hq(client: Client, org: Org, people: People) -> None:
    signed_in(client, org.hq)
    for url in ["/", "/customers/", f"/customers/{people.ada.pk}/", "/tags/", "/org/", "/audit/"]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert b"<html" in response.content, url


def test_hq_sees_every_customer_in_the_list(client: Client, org: Org, people: People) -> None:
    html = signed_in(client, org.hq).get("/customers/").content.decode()
    assert listed_ids(html) == {people.ada.pk, people.bob.pk, people.cai.pk}


def test_store_staff_sees_only_their_own_customers(client: Client, org: Org, people: People) -> None:
    html = signed_in(client, org.n1_staff).get("/customers/").content.decode()
    assert listed_ids(html) == {people.ada.pk}
    assert "Bob Li" not in html and "Cai Zhang" not in html


def test_region_manager_sees_their_region(client: Client, org: Org, people: People) -> None:
    html = signed_in(client, org.north_manager).get("/customers/").content.decode()
    assert listed_ids(html) == {people.ada.pk, people.bob.pk}


def test_profile_of_an_out_of_scope_customer_is_404(client: Client, org: Org, people: People) -> None:
    response = signed_in(client, org.n1_staff).get(f"/customers/{people.cai.pk}/")
    assert response.status_code == 404


def test_profile_shows_identities_relationships_tags_and_timeline(client: Client, org: Org, people: People) -> None:
    html = signed_in(client, org.n1_staff).get(f"/customers/{people.ada.pk}/").content.decode()
    assert "wmAda0001" in html  # the WeCom identity
    assert "poster_sanlitun" in html  # the relationship's channel-code state
    assert f'data-tag-id="{people.vip.pk}"' in html
    assert 'data-event="customer_created"' in html and 'data-event="tag_added"' in html
    assert "暂无订单" in html  # the orders section's empty state


def test_customer_who_deleted_their_staff_shows_as_lost_in_red(client: Client, org: Org, people: People) -> None:
    services.end_relationship(
        customer=people.ada, staff=org.n1_staff, status="deleted_by_customer", at=timezone.now()
    )
    html = signed_in(client, org.hq).get(f"/customers/{people.ada.pk}/").content.decode()
    assert re.search(r'<span class="badge red" data-status="deleted_by_customer">流失</span>', html)


def test_filter_by_tag_lists_only_tagged_customers(client: Client, org: Org, people: People) -> None:
    html = signed_in(client, org.hq).get("/customers/", {"tag": people.vip.pk}).content.decode()
    assert listed_ids(html) == {people.ada.pk}


def test_search_by_identity_value_and_by_name(client: Client, org: Org, people: People) -> None:
    signed_in(client, org.hq)
    assert listed_ids(client.get("/customers/", {"q": "wmAda0001"}).content.decode()) == {people.ada.pk}
    assert listed_ids(client.get("/customers/", {"q": "Bob"}).content.decode()) == {people.bob.pk}


def test_a_store_outside_the_scope_is_ignored_not_leaked(client: Client, org: Org, people: People) -> None:
    html = signed_in(client, org.n1_staff).get("/customers/", {"store": org.store_s1.pk}).content.decode()
    assert listed_ids(html) == {people.ada.pk}


def test_list_paginates(client: Client, org: Org, people: People) -> None:
    now = timezone.now()
    for n in range(22):
        services.create_customer(enterprise_id=org.enterprise.pk, name=f"Extra {n}", created_at=now - timedelta(days=1))
    signed_in(client, org.hq)
    first = listed_ids(client.get("/customers/").content.decode())
    second = listed_ids(client.get("/customers/", {"page": 2}).content.decode())
    assert len(first) == 20 and len(second) == 5
    assert not first & second


def test_htmx_filter_returns_only_the_results_fragment(client: Client, org: Org, people: People) -> None:
    response = signed_in(client, org.hq).get("/customers/", {"tag": people.vip.pk}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<html" not in html and 'id="results"' in html
    assert listed_ids(html) == {people.ada.pk}


def test_tag_and_untag_from_the_profile(client: Client, org: Org, people: People) -> None:
    signed_in(client, org.n1_staff)
    url = f"/customers/{people.ada.pk}/tags/"
    response = client.post(url, {"tag": people.newbie.pk, "action": "add"})
    assert response.status_code == 302
    assert CustomerTag.objects.filter(customer=people.ada, tag=people.newbie).exists()
    assert AuditEntry.objects.filter(action="customer.tag", actor=org.n1_staff.user).exists()
    client.post(url, {"tag": people.vip.pk, "action": "remove"})
    assert not CustomerTag.objects.filter(customer=people.ada, tag=people.vip).exists()
    page = client.get(f"/customers/{people.ada.pk}/").content.decode()
    assert "已添加标签“Newbie”" in page and "已移除标签“VIP”" in page  # the flash messages, in Chinese


def test_tagging_an_out_of_scope_customer_writes_nothing(client: Client, org: Org, people: People) -> None:
    response = signed_in(client, org.n1_staff).post(
        f"/customers/{people.cai.pk}/tags/", {"tag": people.newbie.pk, "action": "add"}
    )
    assert response.status_code == 404
    assert not CustomerTag.objects.filter(customer=people.cai).exists()


def test_tag_library_counts_only_visible_customers(client: Client, org: Org, people: People) -> None:
    services.tag_customers(enterprise_id=org.enterprise.pk, customer_ids=[people.cai.pk], tag_ids=[people.vip.pk])
    hq_html = signed_in(client, org.hq).get("/tags/").content.decode()
    assert re.search(rf'data-tag-id="{people.vip.pk}">VIP<span class="count">2</span>', hq_html)
    client.logout()
    staff_html = signed_in(client, org.n1_staff).get("/tags/").content.decode()
    assert re.search(rf'data-tag-id="{people.vip.pk}">VIP<span class="count">1</span>', staff_html)


def test_hq_creates_a_tag_group_and_a_tag(client: Client, org: Org, people: People) -> None:
    signed_in(client, org.hq)
    response = client.post("/tags/", {"form": "group", "name": "Lifecycle", "exclusive": "on"})
    assert response.status_code == 302
    html = client.get("/tags/").content.decode()
    assert "Lifecycle" in html and "互斥" in html
    found = re.search(r'data-group-id="(\d+)">\s*<div class="card-head">\s*<h2>Lifecycle', html)
    assert found is not None
    group_id = int(found.group(1))
    assert client.post("/tags/", {"form": "tag", "group": group_id, "name": "Silent"}).status_code == 302
    assert "Silent" in client.get("/tags/").content.decode()


def test_duplicate_tag_name_is_refused_with_a_field_error(client: Client, org: Org, people: People) -> None:
    response = signed_in(client, org.hq).post("/tags/", {"form": "tag", "group": people.group.pk, "name": "VIP"})
    assert response.status_code == 422
    assert "该分组下已有同名标签" in response.content.decode()


def test_store_staff_cannot_edit_the_tag_library(client: Client, org: Org, people: People) -> None:
    signed_in(client, org.n1_staff)
    assert 'id="new-group"' not in client.get("/tags/").content.decode()
    response = client.post("/tags/", {"form": "group", "name": "Mine"})
    assert response.status_code == 403
    assert "Mine" not in client.get("/tags/").content.decode()


def test_org_page_is_scoped(client: Client, org: Org, people: People) -> None:
    html = signed_in(client, org.n1_manager).get("/org/").content.decode()
    assert "Beijing 1" in html and "Guangzhou 1" not in html
    assert "n1_staff" in html and "s1_staff" not in html


def test_audit_log_is_for_hq_only(client: Client, org: Org, people: People) -> None:
    assert signed_in(client, org.n1_manager).get("/audit/").status_code == 403
    client.logout()
    services.tag_customers(
        enterprise_id=org.enterprise.pk, customer_ids=[people.bob.pk], tag_ids=[people.newbie.pk],
        actor=org.n2_staff.user,
    )
    html = signed_in(client, org.hq).get("/audit/", {"action": "customer.tag"}).content.decode()
    table = html[html.index('id="audit-table"'):]
    assert "n2_staff" in table and "customer.tag" in table
    assert "tag.create" not in table  # filtered out by the action


def test_a_user_without_a_staff_record_gets_403(client: Client, org: Org) -> None:
    client.force_login(UserFactory.create(username="outsider"))
    response = client.get("/customers/")
    assert response.status_code == 403
    assert "你没有权限访问此页面" in response.content.decode()


def test_dashboard_counts(client: Client, org: Org, people: People) -> None:
    now = timezone.now()
    services.create_customer(enterprise_id=org.enterprise.pk, name="Old", created_at=now - timedelta(days=60))
    services.end_relationship(customer=people.bob, staff=org.n2_staff, status="deleted_by_customer", at=now)
    html = signed_in(client, org.hq).get("/").content.decode()

    def kpi(name: str) -> int:
        found = re.search(rf'data-kpi="{name}"><small>[^<]*</small>([\d,]+)', html)
        assert found, name
        return int(found.group(1).replace(",", ""))

    # Ada, Bob, Cai were created an hour or three ago; "Old" 60 days ago. Bob deleted his staff member just now.
    assert kpi("total") == 4
    assert kpi("active_relationships") == 2
    assert kpi("lost_this_week") == 1
    local = now.astimezone(ZoneInfo("Asia/Shanghai"))
    monday = (local - timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    created = [now - timedelta(hours=1), now - timedelta(hours=2), now - timedelta(hours=3)]
    assert kpi("new_this_week") == sum(1 for moment in created if moment >= monday)
    assert "vendor/echarts.min.js" in html


def test_login_page_shows_the_demo_hint_only_in_demo_mode(
    client: Client, monkeypatch: pytest.MonkeyPatch, org: Org
) -> None:
    # an install with an enterprise (on a fresh one the login page leads to the first-run wizard instead)
    monkeypatch.delenv("SIYU_DEMO", raising=False)
    assert "siyu-demo" not in client.get("/login/").content.decode()
    monkeypatch.setenv("SIYU_DEMO", "1")
    html = client.get("/login/").content.decode()
    assert "演示账号" in html and "siyu-demo" in html


def test_login_with_password_reaches_home(client: Client, org: Org) -> None:
    response = client.post("/login/", {"username": "hq", "password": "pw-for-tests-1"})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/").status_code == 200


def test_junk_and_huge_page_numbers_do_not_break_the_list(client: Client, org: Org, people: People) -> None:
    signed_in(client, org.hq)
    assert listed_ids(client.get("/customers/", {"page": "abc"}).content.decode()) == {
        people.ada.pk, people.bob.pk, people.cai.pk,
    }
    response = client.get("/customers/", {"page": "99999999999999999999999"})
    assert response.status_code == 200 and listed_ids(response.content.decode()) == set()
