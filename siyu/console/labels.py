"""Readable, translated labels for values stored as codes: event names, relationship states, event properties."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from siyu.core.money import Money

EVENT_LABELS: dict[str, Promise] = {
    "customer_created": _("Customer created"),
    "customer_merged": _("Customers merged"),
    "wecom_contact_added": _("Added a staff member on WeCom"),
    "wecom_contact_deleted": _("Removed from WeCom contacts"),
    "oa_followed": _("Followed the Official Account"),
    "oa_unfollowed": _("Unfollowed the Official Account"),
    "oa_scanned": _("Scanned an Official Account QR code"),
    "page_viewed": _("Viewed a page"),
    "product_viewed": _("Viewed a product"),
    "message_received": _("Sent us a message"),
    "message_sent": _("We sent a message"),
    "check_in": _("Checked in"),
    "tag_added": _("Tag added"),
    "tag_removed": _("Tag removed"),
    "group_joined": _("Joined a customer group"),
    "group_left": _("Left a customer group"),
    "order_created": _("Placed an order"),
    "order_paid": _("Paid an order"),
    "order_cancelled": _("Cancelled an order"),
    "order_refunded": _("Order refunded"),
    "coupon_issued": _("Received a coupon"),
    "coupon_redeemed": _("Used a coupon"),
    "points_awarded": _("Earned points"),
    "points_spent": _("Spent points"),
    "wecom_contact_transferred": _("Handed over to another staff member on WeCom"),
    "oa_menu_clicked": _("Clicked the Official Account menu"),
    "order_shipped": _("Order shipped"),
    "order_completed": _("Order completed"),
    "refund_requested": _("Requested a refund"),
    "refund_completed": _("Refund completed"),
    "coupon_used": _("Used a coupon"),
    "coupon_returned": _("Coupon returned"),
    "coupon_expired": _("Coupon expired"),
    "coupon_voided": _("Coupon voided"),
    "group_buy_opened": _("Started a group buy"),
    "group_buy_joined": _("Joined a group buy"),
    "group_buy_completed": _("Group buy succeeded"),
    "group_buy_failed": _("Group buy failed"),
    "cart_abandoned": _("Left a cart unpaid"),
    "segment_entered": _("Entered a segment"),
    "segment_left": _("Left a segment"),
    "lifecycle_changed": _("Lifecycle stage changed"),
    "opted_in": _("Opted in to marketing"),
    "opted_out": _("Opted out of marketing"),
    "member_imported": _("Imported as a member"),
    "tier_changed": _("Membership tier changed"),
    "membership_purchased": _("Paid membership bought"),
    "consent_changed": _("Marketing consent changed"),
    "customer_erased": _("Personal data erased"),
}

# Event kinds shown with a colour in the timeline: gains green, losses red, everything else neutral.
EVENT_TONES: dict[str, str] = {
    "wecom_contact_added": "green",
    "oa_followed": "green",
    "order_paid": "green",
    "wecom_contact_deleted": "red",
    "oa_unfollowed": "red",
    "order_refunded": "red",
    "order_completed": "green",
    "refund_completed": "red",
    "group_buy_completed": "green",
    "customer_merged": "blue",
}

_PROPERTY_LABELS: dict[str, Promise] = {
    "tag": _("Tag"),
    "state": _("Source"),
    "scene": _("Scene"),
    "text": _("Message"),
    "path": _("Page"),
    "title": _("Title"),
    "product_id": _("Product"),
    "sku_id": _("SKU"),
    "streak": _("Streak (days)"),
    "chat_id": _("Group"),
    "absorbed_id": _("Merged customer"),
    "reason": _("Reason"),
    "kind": _("Type"),
    "order_no": _("Order number"),
    "carrier": _("Carrier"),
    "tracking_no": _("Tracking number"),
    "key": _("Menu click key"),
    "fulfillment": _("Fulfillment"),
    "name": pgettext_lazy("thing", "Name"),
    "items": _("Item count"),
    "source": _("Source"),
    "stage": _("Payment stage"),
    "platform": _("Platform"),
}

# Codes stored in event properties, shown by their label (the same words as the orders app's choices; kind is an
# order's kind or an after-sale's). Written out here: the console's labels may not import the orders app (a cycle).
_VALUE_LABELS: dict[str, dict[str, Promise]] = {
    "source": {"mall": _("Mall (mini-program / H5)"), "store": _("Store"), "platform": _("Public platform")},
    "fulfillment": {"delivery": _("Delivery"), "pickup": _("Store pickup")},
    "platform": {"tmall": _("Tmall / Taobao"), "jd": _("JD"), "douyin": _("Douyin"), "pdd": _("Pinduoduo"),
                 "other": _("Other platform")},
    "kind": {"normal": _("Normal"), "presale": _("Presale"), "refund_only": _("Refund only"),
             "return_refund": _("Return and refund")},
    "stage": {"full": _("Full payment"), "deposit": _("Deposit"), "balance": _("Balance")},
}

# Amounts in events are integer fen; shown as money under these names (others ending in _fen get a generic one).
_MONEY_LABELS: dict[str, Promise] = {
    "amount_fen": _("Amount"),
    "payable_fen": _("Payable"),
    "deposit_fen": _("Deposit"),
    "balance_fen": _("Balance due"),
    "refunded_fen": _("Refunded"),
    "shipping_fen": _("Shipping"),
    "subtotal_fen": _("Subtotal"),
    "coupon_discount_fen": _("Coupon discount"),
    "reduction_discount_fen": _("Full-reduction discount"),
    "price_discount_fen": _("Price discount"),
    "list_total_fen": _("List price total"),
    "price_fen": _("Price"),
    "unit_price_fen": _("Unit price"),
}
# Ids that only matter to the system: the order number, product or group shown instead is what operators read.
_SHOWN_IDS = {"product_id", "sku_id", "chat_id", "absorbed_id"}

_BY_LABELS: dict[str, Promise] = {"customer": _("by the customer"), "staff": _("by the staff member")}

# Relationship states as operators talk about them: a customer who deleted their staff member is "lost" (流失).
RELATIONSHIP_LABELS: dict[str, tuple[Promise, str]] = {
    "active": (_("Following"), ""),
    "deleted_by_customer": (_("Lost"), "red"),
    "deleted_by_staff": (_("Deleted by staff"), "grey"),
    "transferred": (_("Transferred"), "grey"),
}


MERGE_REASONS: dict[str, Promise] = {
    "identity": _("Same WeChat or phone identity"),
    "manual": _("Merged by an operator"),
}


AUDIT_ACTIONS: dict[str, Promise] = {
    "customer.create": _("Customer created"),
    "customer.update": _("Customer edited"),
    "customer.identity": _("Identity linked"),
    "customer.merge": _("Customers merged"),
    "customer.tag": _("Tagged"),
    "customer.untag": _("Untagged"),
    "customer.export": _("Customers exported"),
    "tag_group.create": _("Tag group created"),
    "tag.create": _("Tag created"),
    "tag_group.rename": _("Tag group renamed"),
    "tag_group.delete": _("Tag group deleted"),
    "tag.rename": _("Tag renamed"),
    "tag.delete": _("Tag deleted"),
    "oa.follower_sync": _("Official Account follower sync started"),
    "api_token.create": _("API token created"),
    "api_token.revoke": _("API token revoked"),
    "wecom.code.controls": _("Channel code schedules and controls set"),
    "wecom.group_sop.create": _("Group SOP scheduled"),
    "wecom.group_sop.update": _("Group SOP edited"),
    "wecom.group_sop.delete": _("Group SOP deleted"),
}


# What an audit row is about (its target_type), and the verbs of actions without their own label above.
AUDIT_TARGETS: dict[str, Promise] = {
    "staff": _("Staff member"), "channel_account": _("Channel account"), "tag": _("Tag"), "order": _("Order"),
    "segment": _("Segment"), "customer": _("Customer"), "after_sale": _("After-sale"), "reward": _("Points reward"),
    "member_import": _("Member import"), "channel_code": _("Channel code"), "tag_group": _("Tag group"),
    "store": _("Store"), "product": _("Product"), "oa_keyword": _("Keyword reply"), "group_code": _("Group code"),
    "coupon_template": _("Coupon template"), "content_script": _("Script"), "content_material": _("Material"),
    "commission_rule": _("Commission rule"), "category": _("Category"), "region": _("Region"),
    "pay_merchant": _("WeChat Pay merchant"), "moment_task": _("Moment"), "mass_send": _("Mass send"),
    "group_buy": _("Group buy"), "full_reduction": _("Full-reduction"), "flash_sale": _("Flash sale"),
    "export": _("Export"), "content_submission": _("UGC submission"), "content_moment_plan": _("Planned moment"),
    "bundle": _("Bundle"), "transfer_job": _("Inheritance"), "sku": _("SKU"), "shipping_policy": _("Shipping fee"),
    "rfm_run": _("RFM run"), "reconciliation_difference": _("Reconciliation difference"), "presale": _("Presale"),
    "platform_import": _("Platform order import"), "org_sheet": _("Organisation sheet"),
    "order_history": _("Order history import"), "oa_template_send": _("Template message"),
    "oa_qr_scene": _("Official Account QR code"), "lifecycle_rules": _("Lifecycle rules"),
    "keyword_group": _("Keyword group"), "journal_entry": _("Journal entry"), "invitation": _("Invitation"),
    "group_transfer": _("Group handover"), "enterprise": _("Enterprise"), "department": _("Department"),
    "coupon": _("Coupon"), "content_folder": _("Folder"), "group_sop": _("Group SOP"),
    "journey": _("Journey"), "staff_task": _("Staff task"), "task_assignment": _("Task assignment"),
    "campaign": _("Campaign"), "contact_policy": _("Contact budget"), "acquisition_cost": _("Acquisition cost"),
}
AUDIT_VERBS: dict[str, Promise] = {
    "create": _("created"), "update": _("edited"), "delete": _("deleted"), "export": _("exported"),
    "rename": _("renamed"), "refund": _("refunded"), "left": _("marked as left"), "import": _("imported"),
    "status": _("status changed"), "stock": _("stock changed"), "approve": _("approved"), "reject": _("rejected"),
    "cancel": _("cancelled"), "complete": _("completed"), "ship": _("shipped"), "pickup": _("picked up"),
    "issue_tags": _("issued to tags"), "revoke": _("revoked"), "reverse": _("reversed"), "resolve": _("resolved"),
    "settle": _("settled"), "run": _("run"), "start": _("started"), "password": _("sign-in changed"),
    "role": _("role changed"), "merge": _("merged"), "download": _("downloaded"), "request": _("requested"),
    "archive": _("archived"), "setup": _("set up"), "offline_payment": _("offline payment recorded"),
}


def audit_action(action: str, target_type: str = "") -> str:
    """The action's own label, else "<what>: <verb>" from the action's parts (the row's target when the action's
    prefix is not one), else the code itself."""
    label = AUDIT_ACTIONS.get(action)
    if label is not None:
        return str(label)
    target, _dot, verb = action.partition(".")
    thing = AUDIT_TARGETS.get(target) or AUDIT_TARGETS.get(target_type)
    done = AUDIT_VERBS.get(verb) or AUDIT_VERBS.get(verb.rsplit("_", 1)[-1])
    if thing is not None and done is not None:
        return _("%(thing)s: %(verb)s") % {"thing": thing, "verb": done}
    return action


def audit_target(target_type: str) -> str:
    label = AUDIT_TARGETS.get(target_type)
    return str(label) if label is not None else target_type


def merge_reason(reason: str) -> str:
    label = MERGE_REASONS.get(reason)
    return str(label) if label is not None else reason


def event_label(name: str) -> str:
    label = EVENT_LABELS.get(name)
    return str(label) if label is not None else name.replace("_", " ").capitalize()


def _format_value(key: str, value: Any) -> str:
    if key == "by":
        return str(_BY_LABELS.get(str(value), value))
    if key in _VALUE_LABELS and isinstance(value, str) and value in _VALUE_LABELS[key]:
        return str(_VALUE_LABELS[key][value])
    if isinstance(value, bool):
        return str(_("yes") if value else _("no"))
    text = str(value)
    return text if len(text) <= 80 else text[:79] + "…"


def event_details(properties: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The properties worth showing, as (label, value) pairs: money as money, no empty values, no internal ids."""
    out: list[tuple[str, str]] = []
    currency = str(properties.get("currency") or "CNY")
    for key, value in properties.items():
        if _hidden(key, value):
            continue
        if key == "by":
            out.append(("", _format_value(key, value)))
        elif key.endswith("_fen") and isinstance(value, int) and not isinstance(value, bool):
            label = _MONEY_LABELS.get(key)
            out.append((str(label if label is not None else _("Amount")), Money(value, currency).display()))
        else:
            label = _PROPERTY_LABELS.get(key)
            out.append((str(label) if label is not None else key, _format_value(key, value)))
    return out


def _hidden(key: str, value: Any) -> bool:
    if value in ("", None, [], {}) or key in {"tag_id", "welcome_sent", "currency", "payment_ref"}:
        return True
    if (key, value) == ("kind", "text"):
        return True
    return (key == "id" or key.endswith(("_id", "_ids"))) and key not in _SHOWN_IDS


@dataclass(frozen=True)
class StatusLabel:
    text: str
    tone: str


def relationship_status(status: str) -> StatusLabel:
    label, tone = RELATIONSHIP_LABELS.get(status, (_("Unknown"), "grey"))
    return StatusLabel(text=str(label), tone=tone)
