"""Issuing a coupon to a tag set: the confirmation counts the customers; confirming freezes them as a batch that the
worker issues set-based, one coupon per customer keyed by (batch, template, customer) (a second confirm issues nothing
more); the per-customer limit and the stock hold; store staff may not do it; only customers in the operator's scope
are reached."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from siyu.core.errors import PermissionDenied
from siyu.core.models import AuditEntry
from siyu.core.money import Money
from siyu.customers import services as customer_services
from siyu.customers.models import Event
from siyu.org.scope import Scope, scope_for_staff
from siyu.promotions import services
from siyu.promotions.models import Coupon, CouponBatch, CouponQuota, CouponTemplate
from siyu.promotions.services import CouponTemplateInput
from tests.conftest import Org
from tests.console.conftest import People

pytestmark = pytest.mark.django_db


def _template(org: Org, **changes: object) -> CouponTemplate:
    fields: dict[str, object] = {"per_customer_limit": 1, **changes}
    data = CouponTemplateInput(name="满99减20", kind="threshold", amount_off=Money(2000), threshold=Money(9900),
                               valid_days=7, **fields)  # type: ignore[arg-type]
    return services.create_coupon_template(scope=scope_for_staff(org.hq), data=data)


def _holders(template: CouponTemplate) -> list[int]:
    return sorted(Coupon.objects.filter(template=template).values_list("customer_id", flat=True))


def _issue(scope: Scope, template: CouponTemplate, tag_ids: list[int], key: str) -> CouponBatch:
    targets = services.tag_batch_targets(scope, tag_ids=tag_ids)
    batch = services.start_coupon_batch(scope=scope, template_id=template.pk, targets=targets, batch_key=key)
    services.run_coupon_batch(batch_id=batch.pk)
    batch.refresh_from_db()
    return batch


def test_confirm_with_the_count_then_issue_once(client: Client, org: Org, people: People) -> None:
    template = _template(org)
    customer_services.tag_customers(enterprise_id=org.enterprise.pk, customer_ids=[people.bob.pk],
                                    tag_ids=[people.newbie.pk])
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    url = f"/promotions/coupons/{template.pk}/issue-tags/"
    form = client.get(url).content.decode()
    key = re.search(r'name="batch_key" value="([0-9a-f]{32})"', form)
    assert key
    ask = {"tags": [people.vip.pk, people.newbie.pk], "match": "any", "batch_key": key.group(1)}
    confirm = client.post(url, ask).content.decode()
    assert 'data-count="2"' in confirm and _holders(template) == []
    first = client.post(url, {**ask, "confirmed": "1"})
    again = client.post(url, {**ask, "confirmed": "1"})
    assert first.status_code == again.status_code == 302 and first["Location"] == again["Location"]
    batch = CouponBatch.objects.get()
    assert (batch.total, batch.status) == (2, "queued")
    queued = client.get(first["Location"]).content.decode()
    assert 'data-status="queued"' in queued and 'hx-trigger="every 2s"' in queued
    assert services.run_coupon_batch(batch_id=batch.pk) == "done"
    assert services.run_coupon_batch(batch_id=batch.pk) == "skipped"
    assert _holders(template) == sorted([people.ada.pk, people.bob.pk])
    done = client.get(first["Location"]).content.decode()
    assert 'data-status="done"' in done and 'data-issued="2"' in done and "every 2s" not in done
    assert [e.changes["customers"] for e in AuditEntry.objects.filter(action="coupon.issue_batch")] == [2]
    assert AuditEntry.objects.filter(action="coupon.issue_batch_done").get().changes["issued"] == 2


def test_limit_and_stock_hold_and_scope_is_respected(org: Org, people: People) -> None:
    template = _template(org, total_stock=1)
    manager = scope_for_staff(org.n1_manager)  # sees Ada only
    everyone = [people.vip.pk]
    customer_services.tag_customers(enterprise_id=org.enterprise.pk, customer_ids=[people.bob.pk, people.cai.pk],
                                    tag_ids=everyone)
    batch = _issue(manager, template, everyone, "b1")
    assert (batch.total, batch.issued, batch.sold_out) == (1, 1, False) and _holders(template) == [people.ada.pk]
    hq = scope_for_staff(org.hq)
    batch = _issue(hq, template, everyone, "b2")
    assert batch.sold_out and batch.issued == 0 and _holders(template) == [people.ada.pk]
    plenty = _template(org)  # no stock limit, one per customer: a new batch skips everyone who has one
    first = _issue(hq, plenty, everyone, "c1")
    second = _issue(hq, plenty, everyone, "c2")
    assert (first.issued, first.skipped, second.issued, second.skipped) == (3, 0, 0, 3)
    with pytest.raises(PermissionDenied):
        services.start_coupon_batch(scope=scope_for_staff(org.n1_staff), template_id=template.pk,
                                    targets=services.tag_batch_targets(hq, tag_ids=everyone), batch_key="b3")


def test_a_hand_made_set_against_limits_stock_and_a_rerun(org: Org, people: People, monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """Seven customers, two coupons each at most, stock 9, chunks of 2. Before the batch Ada holds two (at the limit:
    skipped) and Bob one (he gets a second). Counted by hand: 6 eligible customers, 9 - 3 = 6 coupons left, so each
    gets one and the stock ends at exactly 9; a re-run of the same batch (put back in the queue, as after a crash)
    issues nothing new."""
    monkeypatch.setattr(services, "BATCH_CHUNK", 2)
    ent = org.enterprise.pk
    more = [customer_services.create_customer(enterprise_id=ent, name=f"客户{i}") for i in range(4)]
    crowd = [people.ada, people.bob, people.cai, *more]
    customer_services.tag_customers(enterprise_id=ent, customer_ids=[c.pk for c in crowd], tag_ids=[people.newbie.pk])
    template = _template(org, per_customer_limit=2, total_stock=9)
    for key in ("a1", "a2"):
        services.issue_coupon(enterprise_id=ent, template_id=template.pk, customer_id=people.ada.pk,
                              idempotency_key=key)
    services.issue_coupon(enterprise_id=ent, template_id=template.pk, customer_id=people.bob.pk, idempotency_key="b1")
    hq = scope_for_staff(org.hq)
    batch = _issue(hq, template, [people.newbie.pk], "hand")
    assert (batch.total, batch.done, batch.issued, batch.skipped, batch.sold_out) == (7, 7, 6, 1, False)
    template.refresh_from_db()
    assert template.issued_count == 9
    got = Coupon.objects.filter(batch=batch)
    assert sorted(got.values_list("customer_id", flat=True)) == sorted(c.pk for c in crowd if c != people.ada)
    assert {c.idempotency_key for c in got} == {f"batch:{batch.pk}:{template.pk}:{c.customer_id}" for c in got}
    assert len({c.code for c in got}) == 6 and all(re.fullmatch(r"[0-9A-F]{16}", c.code) for c in got)
    quotas = dict(CouponQuota.objects.filter(template=template).values_list("customer_id", "issued"))
    assert quotas == {people.ada.pk: 2, people.bob.pk: 2, **{c.pk: 1 for c in (people.cai, *more)}}
    assert Event.objects.filter(name="coupon_issued", properties__batch_id=batch.pk).count() == 6
    CouponBatch.objects.filter(pk=batch.pk).update(status="queued", done=0, issued=0, skipped=0)
    again = services.run_coupon_batch(batch_id=batch.pk)
    batch.refresh_from_db()
    assert again == "done" and (batch.issued, batch.done) == (0, 7) and got.count() == 6
    template.refresh_from_db()
    assert template.issued_count == 9


def test_stock_cuts_the_set_in_id_order(org: Org, people: People, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "BATCH_CHUNK", 2)
    ent = org.enterprise.pk
    crowd = [people.ada, people.bob, people.cai]
    customer_services.tag_customers(enterprise_id=ent, customer_ids=[c.pk for c in crowd], tag_ids=[people.newbie.pk])
    template = _template(org, total_stock=2)
    batch = _issue(scope_for_staff(org.hq), template, [people.newbie.pk], "cut")
    assert (batch.issued, batch.sold_out) == (2, True)
    assert _holders(template) == sorted(c.pk for c in crowd)[:2]
