"""A small shop for order tests, built through the services. Prices are chosen so totals can be worked by hand.

- tissue (日用消耗/纸品清洁) SKU TISSUE-6: ¥19.90, stock 50
- pan    (家居耐用/厨具)     SKU PAN-28:   ¥299.00, stock 5
- shipping: free from ¥99.00, else ¥10.00
- coupon template "满50减10": ¥10 off when the covered goods reach ¥50, valid 7 days
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from siyu.catalog.models import Sku
from siyu.core.money import Money
from siyu.customers.models import Customer
from siyu.orders.models import Order
from siyu.orders.services import states
from siyu.org.scope import Scope, scope_for_staff
from siyu.promotions import services as promotions
from siyu.promotions.models import Coupon, CouponTemplate
from siyu.promotions.services import CouponTemplateInput
from siyu.storefront.services import cart, checkout
from tests.catalog.helpers import leaf, product, sku
from tests.conftest import Org
from tests.factories import CustomerFactory

ADDRESS = {"name": "张三", "phone": "13800138000", "detail": "上海市静安区南京西路1号"}


@dataclass
class Shop:
    org: Org
    hq: Scope
    tissue: Sku
    pan: Sku
    customer: Customer
    template: CouponTemplate

    @property
    def enterprise_id(self) -> int:
        return self.org.enterprise.pk

    def coupon(self, key: str = "c1", *, now: datetime | None = None, customer: Customer | None = None) -> Coupon:
        return promotions.issue_coupon(enterprise_id=self.enterprise_id, template_id=self.template.pk,
                                       customer_id=(customer or self.customer).pk, idempotency_key=key, now=now)

    def checkout(self, *lines: cart.LineInput, coupon: Coupon | None = None,
                 **kwargs: object) -> checkout.CheckoutInput:
        fields: dict[str, object] = {"address": ADDRESS, **kwargs}
        return checkout.CheckoutInput(lines=list(lines), coupon_id=coupon.pk if coupon else None,
                                      **fields)  # type: ignore[arg-type]

    def order(self, *lines: cart.LineInput, coupon: Coupon | None = None, customer: Customer | None = None,
              now: datetime | None = None, **kwargs: object) -> Order:
        return checkout.place_order(enterprise_id=self.enterprise_id, customer_id=(customer or self.customer).pk,
                                    data=self.checkout(*lines, coupon=coupon, **kwargs), now=now)

    def stock(self, target: Sku) -> int:
        return Sku.objects.values_list("stock", flat=True).get(pk=target.pk)


def line(target: Sku, quantity: int = 1, **kwargs: int) -> cart.LineInput:
    return cart.LineInput(quantity=quantity, sku_id=target.pk, **kwargs)


def build_shop(org: Org) -> Shop:
    hq = scope_for_staff(org.hq)
    tissue = product(hq, "抽纸", sku("TISSUE-6", 1990, stock=50), category=leaf(hq, "日用消耗", "纸品清洁"))
    pan = product(hq, "不粘锅", sku("PAN-28", 29900, stock=5), category=leaf(hq, "家居耐用", "厨具"))
    promotions.set_shipping_policy(scope=hq, free_over=Money(9900), fee=Money(1000))
    template = promotions.create_coupon_template(scope=hq, data=CouponTemplateInput(
        name="满50减10", kind="threshold", amount_off=Money(1000), threshold=Money(5000), valid_days=7,
        per_customer_limit=5))
    customer = CustomerFactory.create(enterprise=org.enterprise, name="顾客甲")
    return Shop(org=org, hq=hq, tissue=Sku.objects.get(product=tissue), pan=Sku.objects.get(product=pan),
                customer=customer, template=template)


def paid(shop: Shop, order: Order, ref: str = "pay-1") -> Order:
    return states.mark_paid(order_id=order.pk, paid_at=timezone.now(), payment_ref=ref)


def later(minutes: int) -> datetime:
    return timezone.now() + timedelta(minutes=minutes)
