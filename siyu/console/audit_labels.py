"""What the audit log's object types are called on the page (the filter and the target column)."""

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
    "tag": _("Tag"),
    "tag_group": _("Tag group"),
}


def target_type(name: str) -> str:
    """The type's name, or the raw type for one not listed yet (still searchable)."""
    label = AUDIT_TARGET_TYPES.get(name)
    return str(label) if label is not None else name
