"""The audit log over the API (HQ only): each entry carries its action (the code) and its summary rendered in the
caller's language with the right plural, from a stable message id and its values; search by action and by object."""

from __future__ import annotations

from collections.abc import Callable

from django.utils.translation import gettext_noop as N_

from siyu.core import audit
from siyu.core.models import AuditEntry
from siyu.org.models import Staff
from tests.api.conftest import Api
from tests.conftest import Org


def _entries(org: Org) -> None:
    audit.record(enterprise_id=org.enterprise.pk, actor=org.hq.user, action="customer.tag", target_type="tag",
                 target_id=7, summary=audit.ntext(N_("tagged %(count)s customer with %(tags)s"),
                                                  N_("tagged %(count)s customers with %(tags)s"), 3, tags="VIP"))
    audit.record(enterprise_id=org.enterprise.pk, actor=None, action="order.ship", target_type="order", target_id=9,
                 summary="S0009")
    AuditEntry.objects.create(enterprise_id=org.enterprise.pk, action="customer.tag", target_type="tag",
                              target_id="8", summary="tagged 1 customers with old")  # written before messages


def test_hq_reads_the_log_in_its_language(org: Org, api_as: Callable[[Staff], Api]) -> None:
    _entries(org)
    hq = api_as(org.hq)
    chinese = hq.client.get("/api/org/audit", {"action": "customer.tag"}, headers={**hq.headers,
                                                                                    "Accept-Language": "zh-hans"})
    assert chinese.status_code == 200
    items = chinese.json()["items"]
    assert [(i["action"], i["target_id"], i["message"]) for i in items] == [
        ("customer.tag", "8", "tagged 1 customers with old"),
        ("customer.tag", "7", "为 3 位客户打上标签 VIP"),
    ]
    assert items[1]["message_id"] == "tagged %(count)s customer with %(tags)s"
    assert items[1]["params"] == {"count": 3, "tags": "VIP"} and items[1]["actor"] == "hq"
    english = hq.client.get("/api/org/audit", {"target_type": "tag", "target_id": "7"},
                            headers={**hq.headers, "Accept-Language": "en"}).json()["items"]
    assert [i["message"] for i in english] == ["tagged 3 customers with VIP"]
    shipped = hq.get("/api/org/audit", action="order.").json()
    assert (shipped["total"], shipped["items"][0]["message"], shipped["items"][0]["actor"]) == (1, "S0009", "system")


def test_only_hq_reads_the_log_and_only_its_own(org: Org, api_as: Callable[[Staff], Api]) -> None:
    _entries(org)
    refused = api_as(org.north_manager).get("/api/org/audit")
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    AuditEntry.objects.create(enterprise_id=org.enterprise.pk + 1000, action="customer.tag", target_type="tag",
                              target_id="1", summary="another enterprise")
    body = api_as(org.hq).get("/api/org/audit", page_size=50).json()
    assert body["total"] == AuditEntry.objects.filter(enterprise_id=org.enterprise.pk).count() == 5  # 3 + 2 tokens
    assert "another enterprise" not in [i["message"] for i in body["items"]]
    bad = api_as(org.hq).get("/api/org/audit", action="x" * 65)
    assert (bad.status_code, bad.json()["field"]) == (422, "action")
