"""The points catalogue: a gift (the pan, ¥299.00, stock 5, from tests/orders/helpers.py) shipped as a zero-price
order, and a coupon (the shop's 满50减10 template), each for points. The customer starts with 50,000 points (an HQ
adjustment, 1 fen a point). Every refusal writes nothing: no order, no stock taken, no points operation."""

from __future__ import annotations

import pytest

from siyu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.core.models import AuditEntry
from siyu.loyalty import queries, services
from siyu.loyalty.models import PointsOperation, Redemption
from siyu.orders.models import Order, OrderStatus
from siyu.org.scope import scope_for_staff
from siyu.promotions.models import Coupon
from siyu.storefront.services.checkout import CheckoutInput
from tests.conftest import Org
from tests.loyalty.helpers import ledger_matches_lots, lots_consistent, setup_program
from tests.orders.helpers import ADDRESS, Shop, build_shop

pytestmark = pytest.mark.django_db
DELIVERY = CheckoutInput(address=ADDRESS)


def setup(org: Org, start: int = 50000) -> Shop:
    shop = build_shop(org)
    setup_program(shop)
    services.adjust(scope=shop.hq, customer_id=shop.customer.pk, points=start, reason="start", key="start")
    return shop


def gift(shop: Shop, points: int = 20000) -> int:
    return services.save_reward(scope=shop.hq, data=services.RewardInput(
        kind="gift", name="不粘锅", points=points, sku_id=shop.pan.pk)).pk


def balance(shop: Shop) -> int:
    return queries.balance(shop.enterprise_id, shop.customer.pk)


def test_a_gift_is_a_paid_zero_price_order_taking_stock_and_points(org: Org) -> None:
    shop = setup(org)
    reward = gift(shop)
    taken = services.redeem_reward(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk, reward_id=reward,
                                   key="k1", quantity=2, delivery=DELIVERY)
    assert taken.order_id is not None
    order = Order.objects.get(pk=taken.order_id)
    assert (order.status, order.amount_fen, order.paid_fen, order.list_total_fen) == (OrderStatus.PAID, 0, 0, 59800)
    assert order.lines.get().payable_fen == 0 and order.address["name"] == "张三"
    assert shop.stock(shop.pan) == 3 and balance(shop) == 10000 and taken.points == 40000
    assert PointsOperation.objects.get(pk=taken.operation_id).order_id == order.pk
    again = services.redeem_reward(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk, reward_id=reward,
                                   key="k1", quantity=2, delivery=DELIVERY)
    assert again.pk == taken.pk and Order.objects.count() == 1 and balance(shop) == 10000
    with pytest.raises(Conflict) as reused:
        services.redeem_reward(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk, reward_id=reward,
                               key="k1", quantity=1, delivery=DELIVERY)
    assert reused.value.code == "key_reused"
    lots_consistent(shop.customer.pk)
    ledger_matches_lots(shop)


def test_out_of_stock_and_too_few_points_are_refused_and_write_nothing(org: Org) -> None:
    shop = setup(org, start=90000)
    reward = gift(shop, points=10000)
    with pytest.raises(Conflict) as short:  # 6 pans, 5 in stock
        services.redeem_reward(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk, reward_id=reward,
                               key="k1", quantity=6, delivery=DELIVERY)
    assert short.value.code == "out_of_stock"
    with pytest.raises(Conflict) as poor:  # 10 × 10,000 = 100,000 points, 90,000 held (and stock 5 < 10)
        services.redeem_reward(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk, reward_id=reward,
                               key="k2", quantity=10, delivery=DELIVERY)
    assert poor.value.code == "out_of_stock"
    services.save_reward(scope=shop.hq, reward_id=reward, data=services.RewardInput(
        kind="gift", name="不粘锅", points=20000, sku_id=shop.pan.pk))
    with pytest.raises(Conflict) as poor:  # 5 × 20,000 = 100,000 points, 90,000 held; the stock is there
        services.redeem_reward(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk, reward_id=reward,
                               key="k3", quantity=5, delivery=DELIVERY)
    assert (poor.value.code, poor.value.field) == ("insufficient_points", "points")
    with pytest.raises(ValidationFailed) as no_address:
        services.redeem_reward(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk, reward_id=reward,
                               key="k4", quantity=1)
    assert no_address.value.field == "address.name"
    assert not Order.objects.exists() and shop.stock(shop.pan) == 5 and balance(shop) == 90000
    assert not PointsOperation.objects.filter(kind="redeem").exists() and not Redemption.objects.exists()


def test_a_coupon_for_points_and_a_reward_off_offer(org: Org) -> None:
    shop = setup(org)
    reward = services.save_reward(scope=shop.hq, data=services.RewardInput(
        kind="coupon", name="满50减10", points=500, coupon_template_id=shop.template.pk))
    taken = services.redeem_reward(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk,
                                   reward_id=reward.pk, key="c1")
    assert taken.coupon_id is not None
    coupon = Coupon.objects.get(pk=taken.coupon_id)
    assert (coupon.customer_id, coupon.template_id, coupon.status) == (shop.customer.pk, shop.template.pk,
                                                                       "available")
    assert balance(shop) == 49500 and taken.order_id is None
    services.save_reward(scope=shop.hq, reward_id=reward.pk, data=services.RewardInput(
        kind="coupon", name="满50减10", points=500, coupon_template_id=shop.template.pk, is_active=False))
    with pytest.raises(NotFound) as off:
        services.redeem_reward(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk,
                               reward_id=reward.pk, key="c2")
    assert off.value.code == "reward_not_found" and queries.catalogue(shop.enterprise_id) == []
    ledger_matches_lots(shop)


def test_the_catalogue_is_hq_managed_validated_and_audited(org: Org) -> None:
    shop = setup(org)
    with pytest.raises(PermissionDenied):
        services.save_reward(scope=scope_for_staff(org.n1_staff), data=services.RewardInput(
            kind="gift", name="锅", points=1, sku_id=shop.pan.pk))
    bad = [
        (services.RewardInput(kind="cash", name="锅", points=1), "kind"),
        (services.RewardInput(kind="gift", name=" ", points=1, sku_id=shop.pan.pk), "name"),
        (services.RewardInput(kind="gift", name="锅", points=0, sku_id=shop.pan.pk), "points"),
        (services.RewardInput(kind="gift", name="锅", points=1, sku_id=999999), "sku_id"),
        (services.RewardInput(kind="coupon", name="券", points=1), "coupon_template_id"),
    ]
    for data, field in bad:
        with pytest.raises(ValidationFailed) as caught:
            services.save_reward(scope=shop.hq, data=data)
        assert caught.value.field == field
    reward = gift(shop)
    assert [(i.id, i.points, i.in_stock) for i in queries.catalogue(shop.enterprise_id)] == [(reward, 20000, 5)]
    assert AuditEntry.objects.filter(action="rewards.save").count() == 1
    with pytest.raises(PermissionDenied):
        queries.rewards(scope_for_staff(org.n1_staff))
