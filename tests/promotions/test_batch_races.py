"""Coupon batches racing on PostgreSQL: two batches of one template and single issues at the same moment never give
out more than the stock or more than one coupon per customer; one batch run by two workers at once is issued once."""

from __future__ import annotations

from collections import Counter

import pytest
from django.db import connection

from siyu.core.money import Money
from siyu.customers import queries as customer_queries
from siyu.customers import services as customer_services
from siyu.org.scope import scope_for_staff
from siyu.promotions import services
from siyu.promotions.models import Coupon, CouponTemplate
from tests.conftest import Org
from tests.races import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row-level races need PostgreSQL (SQLite serialises writers)")


def _setup(org: Org, stock: int) -> tuple[CouponTemplate, list[int], services.BatchTargets]:
    hq = scope_for_staff(org.hq)
    template = services.create_coupon_template(scope=hq, data=services.CouponTemplateInput(
        name="抢券", kind="fixed", amount_off=Money(500), valid_days=3, per_customer_limit=1, total_stock=stock))
    ids = [customer_services.create_customer(enterprise_id=org.enterprise.pk, name=f"客{i}").pk for i in range(8)]
    targets = services.BatchTargets(source="tags", label="", params={},
                                    customers=customer_queries.customers(hq).filter(pk__in=ids))
    return template, ids, targets


def test_batches_and_single_issues_share_the_stock(org: Org) -> None:
    template, ids, targets = _setup(org, stock=5)
    hq = scope_for_staff(org.hq)
    batches = [services.start_coupon_batch(scope=hq, template_id=template.pk, targets=targets, batch_key=f"k{i}")
               for i in range(2)]

    def work(i: int) -> None:
        if i < 2:
            services.run_coupon_batch(batch_id=batches[i].pk)
        else:
            services.issue_coupon(enterprise_id=org.enterprise.pk, template_id=template.pk,
                                  customer_id=ids[i], idempotency_key=f"single:{i}")

    outcomes = race(6, work)
    assert set(outcomes) <= {"ok", "coupon_sold_out", "coupon_limit_reached"}, outcomes
    holders = Counter(Coupon.objects.filter(template=template).values_list("customer_id", flat=True))
    template.refresh_from_db()
    assert sum(holders.values()) == template.issued_count == 5 and max(holders.values()) == 1


def test_one_batch_run_by_two_workers_is_issued_once(org: Org) -> None:
    template, ids, targets = _setup(org, stock=100)
    batch = services.start_coupon_batch(scope=scope_for_staff(org.hq), template_id=template.pk, targets=targets,
                                        batch_key="once")
    results: list[str] = []
    outcomes = race(2, lambda i: results.append(services.run_coupon_batch(batch_id=batch.pk)))
    assert outcomes == Counter({"ok": 2}) and sorted(results) == ["done", "skipped"]
    assert Coupon.objects.filter(template=template).count() == 8
