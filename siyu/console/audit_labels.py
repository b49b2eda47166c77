"""What the audit log's object types and the trade actions (orders, after-sales, promotions) are called on the page
(the filters, the target column and the action column); the console's own actions are in console.labels."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

AUDIT_TARGET_TYPES: dict[str, Promise] = {
    "after_sale": _("After-sale"),
    "bundle": _("Bundle"),
    "category": _("Category"),
    "channel_account": _("Channel account"),
    "channel_code": _("Channel code"),
    "commission_rule": _("Commission rule"),
    "coupon": _("Coupon"),
    "coupon_template": _("Coupon template"),
    "customer": _("Customer"),
    "export": _("Export"),
    "flash_sale": _("Flash sale"),
    "full_reduction": _("Full-reduction"),
    "group_buy": _("Group buy"),
    "mass_send": _("Mass send"),
    "order": _("Order"),
    "pay_merchant": _("Pay merchant"),
    "presale": _("Presale"),
    "product": _("Product"),
    "region": _("Region"),
    "segment": _("Segment"),
    "shipping_policy": _("Shipping rule"),
    "sku": _("SKU"),
    "staff": _("Staff member"),
    "store": _("Store"),
    "store_page": _("Mall page"),
    "tag": _("Tag"),
    "tag_group": _("Tag group"),
}


TRADE_ACTIONS: dict[str, Promise] = {
    "after_sale.approve": _("Refund approved"),
    "after_sale.reject": _("Refund rejected"),
    "after_sale.returned": _("Return received"),
    "after_sale.refund": _("Refund recorded by hand"),
    "after_sale.refund_started": _("Refund sent to WeChat Pay"),
    "coupon.issue": _("Coupon issued"),
    "coupon.claim": _("Coupon claimed"),
    "coupon.issue_tags": _("Coupons issued to tagged customers"),
    "coupon.issue_batch": _("Coupon batch confirmed"),
    "coupon.issue_batch_done": _("Coupon batch issued"),
    "coupon.issue_batch_failed": _("Coupon batch stopped"),
    "coupon_template.create": _("Coupon template created"),
    "coupon_template.update": _("Coupon template edited"),
    "flash_sale.create": _("Flash sale created"),
    "flash_sale.update": _("Flash sale edited"),
    "full_reduction.create": _("Full-reduction created"),
    "full_reduction.update": _("Full-reduction edited"),
    "group_buy.create": _("Group buy created"),
    "group_buy.update": _("Group buy edited"),
    "order.cancel": _("Order cancelled"),
    "order.complete": _("Order completed"),
    "order.finance_refund": _("Refund by finance"),
    "order.offline_payment": _("Offline payment recorded"),
    "order.pickup": _("Handed over at the store"),
    "order.ship": _("Order shipped"),
    "presale.create": _("Presale created"),
    "store_page.publish": _("Mall page published"),
    "store_page.rollback": _("Mall page rolled back"),
}


def action(name: str, fallback: str) -> str:
    """A trade action's name; otherwise `fallback` (the console's own label, or the raw action)."""
    label = TRADE_ACTIONS.get(name)
    return str(label) if label is not None else fallback


def target_type(name: str, fallback: str | None = None) -> str:
    """The type's name; otherwise `fallback` (the console's own label), else the raw type (still searchable)."""
    label = AUDIT_TARGET_TYPES.get(name)
    if label is not None:
        return str(label)
    return name if fallback is None else fallback
