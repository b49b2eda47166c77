"""The demo order generator: a year of orders where consumables are bought again and durable goods once."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

from django.db.models import Count
from django.utils import timezone

from siyu.catalog import services as catalog_services
from siyu.customers.models import Event
from siyu.orders.demo import seed_demo_orders
from siyu.orders.models import Order, OrderLine
from tests.conftest import Org
from tests.factories import CustomerFactory


def test_a_year_of_orders_with_realistic_repeats(org: Org) -> None:
    now = timezone.now()
    for i in range(60):
        CustomerFactory.create(enterprise=org.enterprise, created_at=now - timedelta(days=400 - i))
    result = seed_demo_orders(org.enterprise.pk, random.Random(7), months=12)
    catalog = catalog_services.seed_demo_catalog(org.enterprise.pk, random.Random(1))  # the existing catalog
    assert result.buyers == 24  # 40% of 60
    assert result.orders == Order.objects.count() > result.buyers
    assert result.lines == OrderLine.objects.count()
    assert result.events == Event.objects.filter(name__startswith="order_").count()
    oldest = Order.objects.order_by("created_at").values_list("created_at", flat=True).first()
    assert oldest is not None and oldest >= now - timedelta(days=361)

    # How many orders each customer placed with each product in them.
    per_pair = {
        (customer, product): n for customer, product, n in OrderLine.objects.values("order__customer_id", "product_id")
        .annotate(n=Count("order", distinct=True)).values_list("order__customer_id", "product_id", "n")
    }
    durable = {pid for pid, days in catalog.repurchase_days.items() if days is None}
    consumable_counts = [n for (_c, pid), n in per_pair.items() if pid not in durable]
    durable_counts = [n for (_c, pid), n in per_pair.items() if pid in durable]
    assert durable_counts and max(durable_counts) <= 2  # a pan at most once per variant bought (two colours: 2)
    assert sum(durable_counts) / len(durable_counts) < 1.2
    assert consumable_counts and sum(consumable_counts) / len(consumable_counts) >= 2.0
    assert Counter(Order.objects.values_list("status", flat=True))["completed"] > result.orders // 2


def test_seeding_twice_adds_nothing(org: Org) -> None:
    now = timezone.now()
    for i in range(10):
        CustomerFactory.create(enterprise=org.enterprise, created_at=now - timedelta(days=300 - i))
    first = seed_demo_orders(org.enterprise.pk, random.Random(1))
    assert first.orders > 0
    assert seed_demo_orders(org.enterprise.pk, random.Random(1)).orders == 0
    assert Order.objects.count() == first.orders
