"""The contact budget and the do-not-disturb list: HQ reads and sets them through the API and the console page
(audited); a store manager is refused; bad input is a 4xx naming the field; another enterprise's customer is a 404;
the list is searchable and paginated."""

from __future__ import annotations

from django.test import Client

from siyu.core.models import AuditEntry
from siyu.messaging.models import ContactPolicy, DoNotDisturb
from siyu.org.models import Staff
from tests.conftest import Org
from tests.factories import EnterpriseFactory
from tests.messaging.helpers import make_customer

POLICY = {"max_per_day": 1, "max_per_week": 3, "channel_caps": {"sms": 1}, "quiet_start_hour": 22,
          "quiet_end_hour": 8, "recent_purchase_days": 5, "suppress_open_after_sale": False, "wecom_monthly_limit": 4}


def _client(staff: Staff) -> Client:
    client = Client()
    assert staff.user is not None
    client.force_login(staff.user)
    return client


def test_api_reads_the_defaults_then_sets_the_budget_audited(org: Org) -> None:
    hq = _client(org.hq)
    defaults = hq.get("/api/campaigns/policy").json()
    assert (defaults["max_per_day"], defaults["max_per_week"], defaults["quiet_start_hour"]) == (1, 2, 21)
    saved = hq.put("/api/campaigns/policy", POLICY, content_type="application/json")
    assert saved.status_code == 200, saved.content
    assert saved.json() == POLICY
    row = ContactPolicy.objects.get(enterprise=org.enterprise)
    assert (row.max_per_week, row.channel_caps, row.quiet_end_hour, row.suppress_open_after_sale) == (
        3, {"sms": 1}, 8, False)
    assert AuditEntry.objects.filter(enterprise_id=org.enterprise.pk, action="messaging.policy.update").count() == 1


def test_api_refuses_bad_budgets_and_non_hq(org: Org) -> None:
    hq = _client(org.hq)
    bad_hour = hq.put("/api/campaigns/policy", {**POLICY, "quiet_start_hour": 24}, content_type="application/json")
    assert bad_hour.status_code == 422
    bad_cap = hq.put("/api/campaigns/policy", {**POLICY, "channel_caps": {"fax": 1}},
                     content_type="application/json")
    assert bad_cap.status_code == 422 and bad_cap.json()["field"] == "channel_caps.fax"
    manager = _client(org.n1_manager)
    assert manager.put("/api/campaigns/policy", POLICY, content_type="application/json").status_code == 403
    assert manager.post("/api/campaigns/dnd", {"customer_id": 1}, content_type="application/json").status_code == 403
    assert not ContactPolicy.objects.exists()


def test_api_do_not_disturb_add_list_search_remove(org: Org) -> None:
    wang = make_customer(org, name="王芳", phone=True)
    li = make_customer(org, name="李雷")
    other = make_customer_elsewhere()
    hq = _client(org.hq)
    first = hq.post("/api/campaigns/dnd", {"customer_id": wang.pk, "reason": "投诉"}, content_type="application/json")
    assert first.status_code == 201 and first.json() == {"added": True}
    again = hq.post("/api/campaigns/dnd", {"customer_id": wang.pk}, content_type="application/json")
    assert again.status_code == 200 and again.json() == {"added": False}
    assert hq.post("/api/campaigns/dnd", {"customer_id": li.pk}, content_type="application/json").status_code == 201
    elsewhere = hq.post("/api/campaigns/dnd", {"customer_id": other}, content_type="application/json")
    assert elsewhere.status_code == 404 and elsewhere.json()["field"] == "customer_id"
    listed = hq.get("/api/campaigns/dnd").json()
    assert listed["total"] == 2 and {i["customer_id"] for i in listed["items"]} == {wang.pk, li.pk}
    found = hq.get("/api/campaigns/dnd", {"q": "王"}).json()
    assert [i["customer_id"] for i in found["items"]] == [wang.pk] and found["items"][0]["reason"] == "投诉"
    assert hq.get("/api/campaigns/dnd", {"q": wang.phone[:7]}).json()["total"] == 1
    assert hq.delete(f"/api/campaigns/dnd/{wang.pk}").status_code == 204
    assert hq.delete(f"/api/campaigns/dnd/{wang.pk}").status_code == 404
    assert hq.delete(f"/api/campaigns/dnd/{other}").status_code == 404
    assert list(DoNotDisturb.objects.values_list("customer_id", flat=True)) == [li.pk]
    actions = list(AuditEntry.objects.filter(enterprise_id=org.enterprise.pk, action__startswith="messaging.dnd")
                   .order_by("id").values_list("action", flat=True))
    assert actions == ["messaging.dnd.add", "messaging.dnd.add", "messaging.dnd.remove"]


def make_customer_elsewhere() -> int:
    from django.utils import timezone

    from siyu.customers.models import Customer

    ent = EnterpriseFactory.create(code="other", wecom_corp_id="wwother")
    return int(Customer.objects.create(enterprise=ent, name="别家", created_at=timezone.now()).pk)


def test_console_page_sets_the_budget_and_keeps_the_list(org: Org) -> None:
    wang = make_customer(org, name="王芳", phone=True)
    for index in range(22):  # more than a page
        DoNotDisturb.objects.create(enterprise=org.enterprise, customer=make_customer(org, name=f"旧{index:02d}"))
    hq = _client(org.hq)
    page = hq.get("/campaigns/policy/")
    assert page.status_code == 200
    body = page.content.decode()
    assert 'id="policy-form"' in body and 'id="dnd-rows"' in body and 'rel="next"' in body
    saved = hq.post("/campaigns/policy/", {"action": "policy", "max_per_day": 2, "max_per_week": 4, "cap_sms": 1,
                                           "wecom_monthly_limit": 4, "quiet_start_hour": 22, "quiet_end_hour": 8,
                                           "recent_purchase_days": 0})
    assert saved.status_code == 302
    row = ContactPolicy.objects.get(enterprise=org.enterprise)
    assert (row.max_per_day, row.max_per_week, row.channel_caps, row.suppress_open_after_sale) == (
        2, 4, {"sms": 1}, False)
    refused = hq.post("/campaigns/policy/", {"action": "policy", "max_per_day": -1, "max_per_week": 4,
                                             "wecom_monthly_limit": 4, "quiet_start_hour": 22, "quiet_end_hour": 8,
                                             "recent_purchase_days": 0})
    assert refused.status_code == 400 and ContactPolicy.objects.get(enterprise=org.enterprise).max_per_day == 2
    added = hq.post("/campaigns/policy/", {"action": "add", "customer": wang.phone, "reason": "投诉"})
    assert added.status_code == 302
    assert DoNotDisturb.objects.filter(customer=wang, reason="投诉").exists()
    unknown = hq.post("/campaigns/policy/", {"action": "add", "customer": "13000000000"})
    assert unknown.status_code == 400 and "customer" in unknown.context["dnd_form"].errors
    searched = hq.get("/campaigns/policy/", {"q": "王芳"}).content.decode()
    assert "王芳" in searched and "旧00" not in searched
    assert hq.post("/campaigns/policy/", {"action": "remove", "customer_id": wang.pk}).status_code == 302
    assert not DoNotDisturb.objects.filter(customer=wang).exists()
    assert _client(org.n1_manager).get("/campaigns/policy/").status_code == 403
