"""The abandoned-cart journey from real storefront calls: carts left untouched for an hour become `cart_abandoned`
(once per cart version), a cart checked out and paid carries its cart id on `order_paid`, and the journey's keyed
wait lets the payer go while the one who did not pay gets the coupon. Amounts and times are worked by hand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time
from freezegun.api import FrozenDateTimeFactory

from siyu.automation import services
from siyu.customers.models import Event
from siyu.orders.models import CartItem
from siyu.orders.services import states
from siyu.storefront.services import cart, checkout
from tests.automation.helpers import abandoned_cart, build_world, coupons, live, steps
from tests.conftest import Org
from tests.factories import CustomerFactory
from tests.orders.helpers import ADDRESS, build_shop, line

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai


@pytest.fixture
def clock() -> Iterator[FrozenDateTimeFactory]:
    with freeze_time(T0 - timedelta(minutes=5)) as frozen:
        assert isinstance(frozen, FrozenDateTimeFactory)
        yield frozen


def _abandoned() -> list[tuple[int, str, int, int]]:
    return sorted((e.customer_id, e.properties["cart_id"], e.properties["amount_fen"], e.properties["lines"])
                  for e in Event.objects.filter(name="cart_abandoned"))


def test_the_abandoned_cart_journey_from_storefront_calls(org: Org, clock: FrozenDateTimeFactory) -> None:
    shop = build_shop(org)
    world = build_world(org)
    clock.move_to(T0)
    live(world, "弃购", abandoned_cart(world))
    payer, leaver, fiddler = (CustomerFactory.create(enterprise=org.enterprise, name=n) for n in ("付", "走", "改"))
    ent = org.enterprise.pk
    cart.add_to_cart(enterprise_id=ent, customer_id=payer.pk, line=line(shop.tissue, 2))
    cart.add_to_cart(enterprise_id=ent, customer_id=payer.pk, line=line(shop.pan))
    cart.add_to_cart(enterprise_id=ent, customer_id=leaver.pk, line=line(shop.tissue, 1))
    fiddled = cart.add_to_cart(enterprise_id=ent, customer_id=fiddler.pk, line=line(shop.tissue, 1))
    payer_cart, leaver_cart = cart.cart_id_of(payer.pk), cart.cart_id_of(leaver.pk)
    assert len({payer_cart, leaver_cart, cart.cart_id_of(fiddler.pk)}) == 3
    assert set(CartItem.objects.filter(customer=payer).values_list("cart_id", flat=True)) == {payer_cart}
    clock.move_to(T0 + timedelta(minutes=30))
    cart.update_cart_item(customer_id=fiddler.pk, item_id=fiddled.pk, quantity=3)  # touched: a new version later

    clock.move_to(T0 + timedelta(minutes=59))
    assert cart.emit_abandoned_carts() == 0
    clock.move_to(T0 + timedelta(minutes=61))
    assert cart.emit_abandoned_carts() == 2
    assert cart.emit_abandoned_carts() == 0  # the same cart version once
    # 2 × 19.90 + 299.00 = 338.80 for the payer; 19.90 for the leaver
    assert _abandoned() == sorted([(payer.pk, payer_cart, 33880, 2), (leaver.pk, leaver_cart, 1990, 1)])
    services.tick()
    assert steps(payer) == [] and steps(leaver) == []  # both waiting for their cart's payment

    clock.move_to(T0 + timedelta(minutes=70))
    order = checkout.place_order(enterprise_id=ent, customer_id=payer.pk, data=checkout.CheckoutInput(address=ADDRESS))
    assert order.cart_id == payer_cart and cart.cart_id_of(payer.pk) == ""
    states.mark_paid(order_id=order.pk, paid_at=T0 + timedelta(minutes=71), payment_ref="pay-1")
    paid_event = Event.objects.get(customer=payer, name="order_paid")
    assert paid_event.properties["cart_id"] == payer_cart
    clock.move_to(T0 + timedelta(minutes=72))
    services.tick()
    assert steps(payer) == [("wait_pay", "event"), ("paid", "done")]

    clock.move_to(T0 + timedelta(minutes=91))  # the fiddler's cart: untouched since T0 + 30
    assert cart.emit_abandoned_carts() == 1
    clock.move_to(T0 + timedelta(minutes=61 + 120, seconds=5))  # the leaver's two hours are over
    services.tick()
    assert steps(leaver) == [("wait_pay", "timeout"), ("coupon", "done")]
    assert (coupons(payer), coupons(leaver)) == (0, 1)
    # a direct "buy now" order is no cart's; a new cart after checkout is a new cart
    direct = checkout.place_order(enterprise_id=ent, customer_id=leaver.pk,
                                  data=checkout.CheckoutInput(address=ADDRESS, lines=[line(shop.tissue)]))
    assert direct.cart_id == ""
    cart.add_to_cart(enterprise_id=ent, customer_id=payer.pk, line=line(shop.tissue))
    assert cart.cart_id_of(payer.pk) not in ("", payer_cart)
