"""A customers merge moves orders and carts; the worker tasks call the services."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from siyu.customers.services import merge_customers
from siyu.orders import tasks
from siyu.orders.models import CartItem, Order
from siyu.orders.services import states
from siyu.storefront.services import cart
from tests.factories import CustomerFactory
from tests.orders.helpers import Shop, later, line


def test_merging_customers_moves_orders_and_carts(shop: Shop) -> None:
    other = CustomerFactory.create(enterprise=shop.org.enterprise, created_at=timezone.now())
    order = shop.order(line(shop.tissue), customer=other)
    for who, quantity in ((other, 2), (shop.customer, 1)):
        cart.add_to_cart(enterprise_id=shop.enterprise_id, customer_id=who.pk, line=line(shop.tissue, quantity))
    cart.add_to_cart(enterprise_id=shop.enterprise_id, customer_id=other.pk, line=line(shop.pan))
    record = merge_customers(survivor=shop.customer, absorbed=other, reason="test")
    assert Order.objects.get(pk=order.pk).customer_id == shop.customer.pk
    assert record.moved["orders"] == 2  # one order, one cart line moved (the survivor's own tissue line stays)
    assert sorted(CartItem.objects.filter(customer=shop.customer).values_list("sku_id", "quantity")) == sorted(
        [(shop.tissue.pk, 1), (shop.pan.pk, 1)])


def test_the_expiry_task_runs_the_service(shop: Shop, settings: Any) -> None:
    settings.SIYU_ORDER_PAY_TIMEOUT_MINUTES = 0
    order = shop.order(line(shop.tissue))
    assert tasks.expire_unpaid_orders_task.call() == 1
    assert Order.objects.get(pk=order.pk).status == "cancelled"
    assert tasks.refund_failed_group_buys_task.call() == 0
    assert states.expire_unpaid_orders(now=later(1)) == 0
