"""Interaction rewards: following the OA (10), adding a staff member (20), completing the profile (30), each once per
customer whatever is repeated, read set-based from the event log and the customers table, unlocked onto the ledger."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from siyu.customers import services as customer_services
from siyu.customers.models import Customer
from siyu.finance import queries as finance_queries
from siyu.loyalty import queries, services
from siyu.loyalty.models import LotStatus, PointsLot
from tests.conftest import Org
from tests.factories import CustomerFactory
from tests.loyalty.helpers import ledger_matches_lots
from tests.orders.helpers import Shop, build_shop

pytestmark = pytest.mark.django_db


def setup(shop: Shop) -> None:
    services.configure_program(scope=shop.hq, data=services.ProgramInput(
        points_per_yuan=1, fen_per_point=2, return_window_days=7, expiry_days=30, follow_oa_points=10,
        add_staff_points=20, profile_points=30))


def event(customer: Customer, name: str, key: str) -> None:
    customer_services.append_event(enterprise_id=customer.enterprise_id, customer_id=customer.pk, name=name,
                                   idempotency_key=key)


def test_each_interaction_is_rewarded_once_per_customer(org: Org) -> None:
    shop = build_shop(org)
    setup(shop)
    a = shop.customer
    event(a, "oa_followed", "f1")
    event(a, "oa_unfollowed", "u1")
    event(a, "oa_followed", "f2")  # a re-follow earns nothing more
    event(a, "wecom_contact_added", "s1")
    event(a, "wecom_contact_added", "s2")  # a second staff member neither
    complete = CustomerFactory.create(enterprise=org.enterprise, name="李娜", phone="13800000001", gender="female",
                                      birthday=date(1990, 5, 1))
    partial = CustomerFactory.create(enterprise=org.enterprise, name="王五", phone="13800000002", gender="male")
    assert services.grant_interactions(enterprise_id=shop.enterprise_id) == 3
    got = dict(PointsLot.objects.values_list("key", "points"))
    assert got == {f"interaction:follow_oa:{a.pk}": 10, f"interaction:add_staff:{a.pk}": 20,
                   f"interaction:profile:{complete.pk}": 30}
    assert set(PointsLot.objects.values_list("status", flat=True)) == {LotStatus.AVAILABLE}
    assert queries.balance(shop.enterprise_id, a.pk) == 30
    # value on the ledger: (10 + 20 + 30) points × 2 fen
    ledger_matches_lots(shop)
    assert finance_queries.trial_balance(shop.hq).balanced
    # a second run finds nothing new; the partial profile completed later earns then, once
    assert services.grant_interactions(enterprise_id=shop.enterprise_id) == 0
    later = timezone.now() + timedelta(seconds=5)
    Customer.objects.filter(pk=partial.pk).update(birthday=date(1985, 1, 2), updated_at=later)
    event(a, "oa_followed", "f3")
    assert services.grant_interactions(enterprise_id=shop.enterprise_id, now=later + timedelta(seconds=1)) == 1
    assert PointsLot.objects.get(key=f"interaction:profile:{partial.pk}").points == 30
    assert services.grant_interactions(enterprise_id=shop.enterprise_id, now=later + timedelta(seconds=2)) == 0
    ledger_matches_lots(shop)


def test_nothing_without_an_active_program_or_with_zero_points(org: Org) -> None:
    shop = build_shop(org)
    event(shop.customer, "oa_followed", "f1")
    assert services.grant_interactions(enterprise_id=shop.enterprise_id) == 0
    services.configure_program(scope=shop.hq, data=services.ProgramInput(
        points_per_yuan=1, fen_per_point=1, return_window_days=7, expiry_days=30))
    assert services.grant_interactions(enterprise_id=shop.enterprise_id) == 0
    assert not PointsLot.objects.exists()
