"""The personal-data inventory (PIPL): every table outside the customers app that holds rows about a customer, what
a data export shows of it, and what an erasure does to it.

One module names them all, so the inventory can be read (and audited) in one place, and a test fails when a model
gains a reference to a customer without an entry here (tests/ops/test_personal_data.py walks the models).
The framework, and the customers app's own tables, are in siyu.customers.personal_data.
"""

from __future__ import annotations

from typing import Any

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import CharField, F, Q, Value
from django.db.models.functions import Cast, Concat
from django.utils.translation import gettext_lazy as _

from siyu.audiences.models import CustomerScore, SegmentMembership
from siyu.automation.models import Enrollment, StaffTask, Step
from siyu.channels.official_account.models import Follower, OAuthState, SendStatus, TemplateSend
from siyu.channels.sms.models import SmsCallback, SmsMessage, SmsReply
from siyu.channels.wecom.models import GroupMembership, MassSendRecipient, TransferItem
from siyu.content.models import ContentUse, Submission
from siyu.customers.personal_data import register_eraser, register_section, rows
from siyu.loyalty.models import (
    CheckIn,
    CustomerTier,
    Membership,
    MembershipPurchase,
    PointsLot,
    PointsOperation,
    Redemption,
    TierChange,
)
from siyu.messaging.models import CampaignLink, Delivery, DoNotDisturb
from siyu.messaging.models import Conversion as CampaignConversion
from siyu.orders.models import AfterSale, CartItem, Order, OrderLine, PlatformImportRow, StorefrontSession
from siyu.promotions.models import (
    Coupon,
    GroupBuyMember,
)
from siyu.referrals.models import Help, Invitation, Participant
from siyu.storefront.models import MallAddress

# Models that reference a customer and hold nothing about them but that reference and business figures already in an
# exported section (or derived from them): exported through that section or not at all, and untouched by erasure.
DERIVED = {
    "promotions.CouponQuota": "how many of a template were issued: counted from coupons",
    "promotions.CouponBatchTarget": "a batch's frozen target list: the coupons issued are exported",
    "promotions.FlashPurchase": "units bought in a flash sale: the orders are exported",
    "promotions.GroupBuyTeam": "a team led: the group-buy memberships are exported",
    "loyalty.TierScore": "a nightly score run's working row: the tier and its changes are exported",
    "loyalty.MembershipCoupon": "which month's benefit coupons were issued: the coupons are exported",
    "orders.CartItem": "removed on erasure; a cart is not a record worth exporting",
    "official_account.OAuthState": "a login's single-use state; removed on erasure",
    "orders.StorefrontSession": "a mini-program session; removed on erasure",
    "orders.PlatformImportRow": "a platform import's row report; its buyer fields are blanked on erasure",
    "wecom.TransferItem": "a handover job's item; its external_userid is replaced on erasure",
    "automation.SegmentSnapshot": "a journey's view of a segment's members: the segment memberships are exported",
}


def _orders(customer_id: int) -> list[dict[str, Any]]:
    orders = rows(Order, ["id", "order_no", "kind", "source", "status", "store__name", "channel", "currency",
                          "amount_fen", "paid_fen", "refunded_fen", "address", "buyer_note", "created_at"],
                  customer_id=customer_id)
    lines: dict[int, list[dict[str, Any]]] = {}
    for line in rows(OrderLine, ["order_id", "name", "quantity", "unit_price_fen"], order__customer_id=customer_id):
        lines.setdefault(line.pop("order_id"), []).append(line)
    for order in orders:
        order["lines"] = lines.get(order["id"], [])
    return orders


def _addresses(customer_id: int) -> list[dict[str, Any]]:
    return rows(MallAddress, ["name", "phone", "region", "detail", "created_at"], customer_id=customer_id)


def _after_sales(customer_id: int) -> list[dict[str, Any]]:
    return rows(AfterSale, ["order__order_no", "kind", "status", "reason", "amount_fen", "requested_at", "decided_at"],
                customer_id=customer_id)


def _coupons(customer_id: int) -> list[dict[str, Any]]:
    return rows(Coupon, ["template__name", "code", "status", "source", "valid_from", "valid_until", "issued_at",
                         "used_at"], customer_id=customer_id)


def _group_buys(customer_id: int) -> list[dict[str, Any]]:
    return rows(GroupBuyMember, ["team__group_buy__name", "team__status", "order_id", "joined_at"],
                customer_id=customer_id)


def _points(customer_id: int) -> list[dict[str, Any]]:
    return rows(PointsLot, ["source", "points", "remaining", "status", "earned_at", "available_at", "expires_at",
                            "reason"], customer_id=customer_id)


def _points_operations(customer_id: int) -> list[dict[str, Any]]:
    return rows(PointsOperation, ["kind", "points", "order_id", "reason", "created_at"], customer_id=customer_id)


def _redemptions(customer_id: int) -> list[dict[str, Any]]:
    return rows(Redemption, ["reward__name", "quantity", "points", "order_id", "coupon_id", "created_at"],
                customer_id=customer_id)


def _referrals(customer_id: int) -> list[dict[str, Any]]:
    """The campaigns they took part in (their share token, who brought them), the invitations that name them as the
    invitee and the friends' assistances they helped; the people they invited or who helped them are those people's
    data, so not listed here."""
    joined = rows(Participant, ["campaign__name", "token", "generation", "joined_at", "completed_at"],
                  customer_id=customer_id)
    invited = rows(Invitation, ["campaign__name", "status", "reason", "occurred_at"], invitee_id=customer_id)
    helped = rows(Help, ["campaign__name", "helped_at"], helper_id=customer_id)
    return [*joined, *invited, *helped]


def _journeys(customer_id: int) -> list[dict[str, Any]]:
    """The journeys they entered, every step they went through, and the staff tasks about them."""
    entered = rows(Enrollment, ["journey__name", "version__number", "status", "entered_at", "ended_at"],
                   customer_id=customer_id)
    steps = rows(Step, ["enrollment__journey__name", "node", "kind", "outcome", "code", "at"],
                 enrollment__customer_id=customer_id)
    tasks = rows(StaffTask, ["title", "status", "due_at", "done_at"], customer_id=customer_id)
    return [*entered, *steps, *tasks]


def _campaigns(customer_id: int) -> list[dict[str, Any]]:
    """Each campaign planned for them: the channel, what happened (or why they were left out), the variant; the
    orders credited to a campaign; whether they are on the do-not-disturb list; the tracked links they opened."""
    planned = rows(Delivery, ["campaign__name", "channel", "status", "reason", "variant", "holdout", "sent_at"],
                   customer_id=customer_id)
    credited = rows(CampaignConversion, ["campaign__name", "order_id", "touch", "paid_at"],
                    delivery__customer_id=customer_id)
    dnd = rows(DoNotDisturb, ["reason", "created_at"], customer_id=customer_id)
    clicked = rows(CampaignLink, ["campaign__name", "url", "clicks", "first_clicked_at"],
                   delivery__customer_id=customer_id, first_clicked_at__isnull=False)
    return [*planned, *credited, *({"do_not_disturb": True, **row} for row in dnd),
            *({"link_clicked": True, **row} for row in clicked)]


def _erase_campaigns(enterprise_id: int, customer_id: int) -> int:
    """Deliveries forget the phone / openid they went to; the do-not-disturb entry's free-text reason goes."""
    total = Delivery.objects.filter(enterprise_id=enterprise_id, customer_id=customer_id).update(target="")
    return total + DoNotDisturb.objects.filter(enterprise_id=enterprise_id, customer_id=customer_id).update(reason="")


def _tier(customer_id: int) -> list[dict[str, Any]]:
    current = rows(CustomerTier, ["tier__name", "since", "below_since"], customer_id=customer_id)
    changes = rows(TierChange, ["from_tier__name", "to_tier__name", "direction", "value", "at"],
                   customer_id=customer_id)
    return [*({"current": True, **row} for row in current), *({"current": False, **row} for row in changes)]


def _membership(customer_id: int) -> list[dict[str, Any]]:
    current = rows(Membership, ["plan__name", "status", "started_at", "ends_at", "expired_at"],
                   customer_id=customer_id)
    bought = rows(MembershipPurchase, ["plan__name", "price_fen", "period_days", "status", "starts_at", "ends_at",
                                       "paid_at", "refunded_at", "order_id", "created_at"], customer_id=customer_id)
    return [*({"current": True, **row} for row in current), *({"current": False, **row} for row in bought)]


def _check_ins(customer_id: int) -> list[dict[str, Any]]:
    return rows(CheckIn, ["day", "streak", "points", "created_at"], customer_id=customer_id)


def _followers(customer_id: int) -> list[dict[str, Any]]:
    return rows(Follower, ["account__name", "openid", "unionid", "subscribed", "subscribe_scene", "followed_at",
                           "unfollowed_at", "last_interaction_at"], customer_id=customer_id)


def _template_sends(customer_id: int) -> list[dict[str, Any]]:
    return rows(TemplateSend, ["account__name", "template_id", "data", "status", "created_at", "sent_at"],
                customer_id=customer_id)


def _group_memberships(customer_id: int) -> list[dict[str, Any]]:
    return rows(GroupMembership, ["group__name", "name", "joined_at", "left_at"], customer_id=customer_id)


def _mass_sends(customer_id: int) -> list[dict[str, Any]]:
    return rows(MassSendRecipient, ["mass_send__name", "sender__staff__name", "status", "sent_at"],
                customer_id=customer_id)


def _customer_phone(customer_id: int) -> tuple[int, str]:
    from siyu.customers.models import Customer  # noqa: PLC0415 - only the erasure's own customer row

    row = Customer.objects.filter(pk=customer_id).values_list("enterprise_id", "phone").first()
    return row if row is not None else (0, "")


def _sms(customer_id: int) -> list[dict[str, Any]]:
    """The texts sent to the customer, and what their number answered (replies are tied to the number)."""
    enterprise_id, phone = _customer_phone(customer_id)
    fields = ["phone", "text", "purpose", "status", "error", "created_at", "sent_at", "reported_at"]
    sent = rows(SmsMessage, fields, customer_id=customer_id)
    if phone:  # texts to the number before it was linked to a customer
        sent += rows(SmsMessage, fields, enterprise_id=enterprise_id, phone=phone, customer__isnull=True)
    answered = rows(SmsReply, ["phone", "text", "opt_out", "received_at"], enterprise_id=enterprise_id,
                    phone=phone) if phone else []
    return [*({"sent": True, **row} for row in sent), *({"sent": False, **row} for row in answered)]


def _erase_sms(enterprise_id: int, customer_id: int) -> int:
    """Texts and numbers go; the status (delivered, failed) stays for the campaign figures. Rows to the customer's
    number without a customer reference, the number's replies and the raw callbacks naming it go too."""
    _, phone = _customer_phone(customer_id)
    mine = Q(customer_id=customer_id) | (Q(phone=phone) if phone else Q(pk__in=[]))
    total = SmsMessage.objects.filter(mine, enterprise_id=enterprise_id).update(phone="", text="")
    if phone:
        total += SmsReply.objects.filter(enterprise_id=enterprise_id, phone=phone).update(phone="", text="")
        total += SmsCallback.objects.filter(enterprise_id=enterprise_id, body__contains=f'"{phone}"').update(body="")
    return total


def _content(customer_id: int) -> list[dict[str, Any]]:
    return rows(ContentUse, ["material__title", "script__title", "kind", "staff__name", "created_at"],
                customer_id=customer_id)


def _submissions(customer_id: int) -> list[dict[str, Any]]:
    return rows(Submission, ["kind", "text", "file_name", "status", "reason", "created_at"], customer_id=customer_id)


def _segments(customer_id: int) -> list[dict[str, Any]]:
    return rows(SegmentMembership, ["segment__name", "entered_at", "left_at"], customer_id=customer_id)


def _scores(customer_id: int) -> list[dict[str, Any]]:
    return rows(CustomerScore, ["recency_days", "frequency", "monetary_fen", "r", "f", "m", "cell", "stage",
                                "super_score", "updated_at"], customer_id=customer_id)


def _replaced(prefix: str) -> Concat:
    """A stand-in for an external id that keeps rows distinct (unique constraints) and names no one."""
    return Concat(Value(prefix), Cast(F("pk"), output_field=CharField()), output_field=CharField())


def _erase_orders(enterprise_id: int, customer_id: int) -> int:
    """Orders, amounts and the ledger stay; the delivery address and the buyer's own words go."""
    total = Order.objects.filter(enterprise_id=enterprise_id, customer_id=customer_id).update(address={},
                                                                                              buyer_note="")
    total += AfterSale.objects.filter(enterprise_id=enterprise_id, customer_id=customer_id).exclude(
        reason="").update(reason="")
    total += CartItem.objects.filter(enterprise_id=enterprise_id, customer_id=customer_id).delete()[0]
    total += StorefrontSession.objects.filter(enterprise_id=enterprise_id, customer_id=customer_id).delete()[0]
    total += PlatformImportRow.objects.filter(customer_id=customer_id).update(buyer_id="", buyer_nick="", phone="")
    total += MallAddress.objects.filter(enterprise_id=enterprise_id, customer_id=customer_id).delete()[0]
    return total


def _erase_official_account(enterprise_id: int, customer_id: int) -> int:
    """Followers (the openid) removed; template sends keep their outcome without the openid; pending ones stop."""
    total = TemplateSend.objects.filter(customer_id=customer_id, status=SendStatus.PENDING).update(
        status=SendStatus.FAILED, error="customer erased")
    total += TemplateSend.objects.filter(customer_id=customer_id).update(openid="", data={})
    total += Follower.objects.filter(account__enterprise_id=enterprise_id, customer_id=customer_id).delete()[0]
    total += OAuthState.objects.filter(customer_id=customer_id).delete()[0]
    return total


def _erase_wecom(enterprise_id: int, customer_id: int) -> int:
    """Group nicknames and external ids replaced; a mass send already handed to WeCom cannot be recalled per person,
    but no later one can reach them (their identities are gone and consent is withdrawn)."""
    total = GroupMembership.objects.filter(customer_id=customer_id).update(name="", member_id=_replaced("erased-"))
    total += MassSendRecipient.objects.filter(customer_id=customer_id).update(target=_replaced("erased-"))
    total += TransferItem.objects.filter(customer_id=customer_id).update(external_userid=_replaced("erased-"))
    return total


def _erase_content(enterprise_id: int, customer_id: int) -> int:
    """Submissions lose their text and name; files of submissions never approved are deleted once the erasure
    commits (an approved one is a material in the library now, no longer tied to the person)."""
    submissions = Submission.objects.filter(enterprise_id=enterprise_id, customer_id=customer_id)
    files = [name for pair in submissions.filter(material__isnull=True).values_list("file", "thumbnail")
             for name in pair if name]
    total = submissions.update(text="", file_name="")
    total += submissions.filter(material__isnull=True).update(file="", thumbnail="")

    def _delete_files() -> None:
        for name in files:
            default_storage.delete(name)

    transaction.on_commit(_delete_files)
    return total


register_section("orders", _("Orders"), _orders)
register_section("addresses", _("Address book"), _addresses)
register_section("after_sales", _("After-sales"), _after_sales)
register_section("coupons", _("Coupons"), _coupons)
register_section("group_buys", _("Group buys"), _group_buys)
register_section("points", _("Points"), _points)
register_section("points_operations", _("Points operations"), _points_operations)
register_section("redemptions", _("Rewards redeemed"), _redemptions)
register_section("tier", _("Membership tier"), _tier)
register_section("check_ins", _("Check-ins"), _check_ins)
register_section("membership", _("Paid membership"), _membership)
register_section("referrals", _("Referral campaigns"), _referrals)
register_section("journeys", _("Journeys"), _journeys)
register_section("campaigns", _("Marketing campaigns"), _campaigns)
register_section("followers", _("Official Account"), _followers)
register_section("template_sends", _("Official Account messages"), _template_sends)
register_section("group_memberships", _("Customer groups"), _group_memberships)
register_section("mass_sends", _("WeCom mass messages"), _mass_sends)
register_section("sms", _("SMS"), _sms)
register_section("content", _("Content sent and clicked"), _content)
register_section("submissions", _("Submissions"), _submissions)
register_section("segments", _("Segments"), _segments)
register_section("scores", _("RFM and lifecycle"), _scores)
register_eraser("orders", _erase_orders)
register_eraser("official_account", _erase_official_account)
register_eraser("wecom", _erase_wecom)
register_eraser("sms", _erase_sms)
register_eraser("content", _erase_content)
register_eraser("campaigns", _erase_campaigns)

# Which models each section and eraser covers, for the inventory test.
COVERED = {
    "orders.Order", "storefront.MallAddress", "orders.AfterSale", "promotions.Coupon", "promotions.GroupBuyMember",
    "loyalty.PointsLot",
    "loyalty.PointsOperation", "loyalty.Redemption", "loyalty.CustomerTier", "loyalty.TierChange", "loyalty.CheckIn",
    "loyalty.Membership", "loyalty.MembershipPurchase",
    "official_account.Follower", "official_account.TemplateSend", "wecom.GroupMembership", "wecom.MassSendRecipient",
    "content.ContentUse", "content.Submission", "audiences.SegmentMembership", "audiences.CustomerScore",
    "referrals.Participant", "referrals.Invitation", "referrals.Help", "sms.SmsMessage",
    "automation.Enrollment", "automation.Step", "automation.StaffTask",
    "messaging.Delivery", "messaging.Conversion", "messaging.DoNotDisturb", "messaging.CampaignLink",
}
