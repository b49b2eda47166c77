"""The checkout's short paths keep the long paths' guarantees: one stock statement that gives back what it took when a
SKU is short, the coupon locked with its coupon_used event, the order's events written by the trusted one-statement
insert (the merged-customer, repeat and unknown-reference cases taking the batch path), and a bounded number of
queries per checkout."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from siyu.catalog import services as catalog_services
from siyu.catalog.services import StockItem
from siyu.core.errors import Conflict, NotFound, ValidationFailed
from siyu.customers.models import Event
from siyu.customers.services import append_event, merge_customers
from siyu.orders.models import Order
from siyu.promotions import queries as promotion_queries
from siyu.promotions import services as promotions
from siyu.promotions.models import Coupon
from tests.factories import CustomerFactory
from tests.orders.helpers import Shop, line


def test_a_coupon_order_logs_coupon_used_and_order_created(shop: Shop) -> None:
    coupon = shop.coupon()
    order = shop.order(line(shop.pan), coupon=coupon)
    used = Event.objects.get(customer=shop.customer, name="coupon_used")
    assert used.idempotency_key == f"coupon_used:{coupon.pk}:{order.pk}"
    assert used.properties == {"coupon_id": coupon.pk, "template_id": shop.template.pk, "name": "满50减10",
                               "source": "", "order_id": order.pk, "reason": "", "batch_id": None}
    created = Event.objects.get(customer=shop.customer, name="order_created")
    assert created.properties["order_id"] == order.pk and created.properties["amount_fen"] == 28900  # 299 - 10
    assert created.channel == "miniprogram" and created.enterprise_id == shop.enterprise_id


def test_the_checkout_coupon_lock_is_idempotent_per_order_and_refuses_a_second_order(shop: Shop) -> None:
    coupon = shop.coupon()
    info = promotion_queries.load_pricing_input(enterprise_id=shop.enterprise_id, lines=[],
                                                coupon_id=coupon.pk).coupon
    assert info is not None
    now = timezone.now()
    promotions.use_coupon_at_checkout(enterprise_id=shop.enterprise_id, coupon=info, customer_id=shop.customer.pk,
                                      order_id=41, now=now)
    promotions.use_coupon_at_checkout(enterprise_id=shop.enterprise_id, coupon=info, customer_id=shop.customer.pk,
                                      order_id=41, now=now)  # the same order again: nothing more happens
    with pytest.raises(Conflict) as taken:
        promotions.use_coupon_at_checkout(enterprise_id=shop.enterprise_id, coupon=info,
                                          customer_id=shop.customer.pk, order_id=42, now=now)
    assert taken.value.code == "coupon_used"
    stranger = CustomerFactory.create(enterprise=shop.org.enterprise)
    with pytest.raises(ValidationFailed) as not_theirs:
        promotions.use_coupon_at_checkout(enterprise_id=shop.enterprise_id, coupon=info, customer_id=stranger.pk,
                                          order_id=43, now=now)
    assert not_theirs.value.code == "coupon_not_owned"
    assert Coupon.objects.values_list("status", "order_id").get(pk=coupon.pk) == ("used", 41)
    assert Event.objects.filter(name="coupon_used").count() == 1


def test_order_created_reaches_the_survivor_of_a_merge(shop: Shop) -> None:
    survivor = CustomerFactory.create(enterprise=shop.org.enterprise, name="合并后")
    merge_customers(survivor=survivor, absorbed=shop.customer, reason="same person")
    order = shop.order(line(shop.tissue))  # placed for the merged-away id
    event = Event.objects.get(name="order_created", properties__order_id=order.pk)
    assert event.customer_id == survivor.pk


def test_the_trusted_event_insert_keeps_the_batch_rules(shop: Shop) -> None:
    ent, cid = shop.enterprise_id, shop.customer.pk
    now = timezone.now()
    kwargs: dict[str, Any] = {"enterprise_id": ent, "customer_id": cid, "name": "product_viewed", "occurred_at": now,
                              "properties": {"product_id": 7}}
    assert append_event(idempotency_key="view:1", store_id=shop.org.store_n1.pk, staff_id=shop.org.n1_staff.pk,
                        **kwargs) is True
    assert append_event(idempotency_key="view:1", **kwargs) is False  # a repeat writes nothing
    with pytest.raises(NotFound) as store:
        append_event(idempotency_key="view:2", store_id=999_999, **kwargs)
    assert store.value.field == "events[0].store_id"
    with pytest.raises(NotFound):
        append_event(idempotency_key="view:3", **{**kwargs, "customer_id": 999_999})
    with pytest.raises(NotFound):  # another enterprise's customer is unknown here
        append_event(idempotency_key="view:4", **{**kwargs, "enterprise_id": ent + 1})
    row = Event.objects.get(idempotency_key="view:1")
    assert (row.customer_id, row.store_id, row.staff_id, row.properties) == (
        cid, shop.org.store_n1.pk, shop.org.n1_staff.pk, {"product_id": 7, "sku_id": None})
    assert Event.objects.filter(idempotency_key__startswith="view:").count() == 1


def test_a_short_sku_gives_back_what_the_statement_took_and_the_transaction_goes_on(shop: Shop) -> None:
    with transaction.atomic():
        with pytest.raises(Conflict) as info:
            catalog_services.reserve_stock(enterprise_id=shop.enterprise_id, items=[
                StockItem(shop.tissue.pk, 4, line=0), StockItem(shop.pan.pk, 6, line=1)])
        assert (info.value.code, info.value.index) == ("out_of_stock", 1)
        assert (shop.stock(shop.tissue), shop.stock(shop.pan)) == (50, 5)
        catalog_services.reserve_stock(enterprise_id=shop.enterprise_id, items=[StockItem(shop.pan.pk, 5)])
    assert (shop.stock(shop.tissue), shop.stock(shop.pan)) == (50, 0)


def test_a_checkout_takes_a_bounded_number_of_queries(shop: Shop, django_assert_max_num_queries: Any) -> None:
    # Reads: the SKUs; the running rules with the shipping rule; the customer's running paid plan (member prices and
    # free shipping). Writes: the order, its lines, the stock (one statement for both SKUs), order_created; and the
    # transaction's two (a savepoint here, inside the test's).
    with django_assert_max_num_queries(9):
        shop.order(line(shop.tissue, 2), line(shop.pan))
    coupon = shop.coupon()
    # A coupon adds its read, its conditional UPDATE and coupon_used.
    with django_assert_max_num_queries(12):
        shop.order(line(shop.tissue, 3), coupon=coupon)
    assert Order.objects.count() == 2
