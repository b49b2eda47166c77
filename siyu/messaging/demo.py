"""The demo enterprise's campaign (a seed step): a 双旦 campaign to up to 2,000 customers with a phone, WeCom first,
then the Official Account, then SMS, two variants and a 10 % holdout, planned by the real planner, launched ten days
ago and mostly sent, with the orders its recipients paid since credited first- and last-touch, so /campaigns/ has a
waterfall, progress and results to look at. The rows still planned are sent by the demo's worker through the
simulator once `make demo` runs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction

from siyu.channels.models import AccountKind, ChannelAccount
from siyu.core.timeutil import now
from siyu.customers.models import Customer
from siyu.messaging import services
from siyu.messaging.models import Campaign, Delivery, DeliveryStatus
from siyu.orders.models import Order
from siyu.org.scope import Scope

NAME = "双旦焕新 · 老客回访"
AUDIENCE = 2_000


def _account(enterprise_id: int, kind: str) -> int | None:
    found = ChannelAccount.objects.filter(enterprise_id=enterprise_id, kind=kind).order_by("pk")
    return found.values_list("pk", flat=True).first()


def seed_campaign(enterprise_id: int, rng: Any, progress: Any) -> None:
    if Campaign.objects.filter(enterprise_id=enterprise_id, name=NAME).exists():
        return  # a re-seed keeps the demo's campaign as it is
    scope = Scope.hq(enterprise_id)
    wecom, oa = _account(enterprise_id, AccountKind.WECOM), _account(enterprise_id, AccountKind.OFFICIAL_ACCOUNT)
    channels = [c for c, ok in (("wecom", wecom), ("official_account", oa), ("sms", True)) if ok]
    texts = {"wecom": "我是{staff_name}，{store}双旦焕新，老客专享礼已备好",
             "official_account": "{name}您好，双旦焕新开始了",
             "sms": "{name}，{store}双旦焕新，老客专享礼，回TD退订"}
    ids = list(Customer.objects.filter(enterprise_id=enterprise_id).exclude(phone="").order_by("pk")
               .values_list("pk", flat=True)[:AUDIENCE])
    if not ids:
        return
    campaign = services.create_campaign(scope=scope, data=services.CampaignInput(
        name=NAME, audience_kind="list", customer_ids=ids, channels=channels,
        content={c: texts[c] for c in channels}, variants=[{"name": "A"}, {"name": "B", "content": {
            "sms": "{name}，双旦老客礼包限时领，回TD退订"}}], holdout_pct=10, cost_fen=120_000,
        wecom_account_id=wecom, oa_account_id=oa, oa_template_id="TPL_DEMO_PROMO", sms_sign="思域优选"))
    services.plan_campaign(scope=scope, campaign_id=campaign.pk)
    services.launch_campaign(scope=scope, campaign_id=campaign.pk)
    sent_at = now() - timedelta(days=10)
    with transaction.atomic():
        Campaign.objects.filter(pk=campaign.pk).update(launched_at=sent_at, planned_at=sent_at)
        planned = Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.PLANNED)
        # nine in ten sent ten days ago (by bucket, so both variants are), the rest left for the demo's worker
        planned.filter(bucket__lt=90, channel="sms").update(status=DeliveryStatus.DELIVERED, sent_at=sent_at,
                                                            delivered_at=sent_at, due_at=sent_at, attempts=1)
        planned.filter(bucket__lt=90).exclude(channel="sms").update(status=DeliveryStatus.SENT, sent_at=sent_at,
                                                                   due_at=sent_at, attempts=1)
    # The orders the recipients (and the holdout) paid in the week since: credited as the paid hook would have.
    paid = Order.objects.filter(enterprise_id=enterprise_id, customer_id__in=ids, paid_at__gte=sent_at,
                                paid_at__lte=sent_at + timedelta(days=7)).values_list("pk", "paid_at")
    credited = 0
    for order_id, paid_at in paid:
        if paid_at is not None:
            credited += services.credit_conversions(enterprise_id, order_id, paid_at)
    note = getattr(progress, "note", None)
    if callable(note):
        note(f"demo campaign: {len(ids)} customers planned, {credited} conversions credited")


def install() -> None:
    from siyu.core.seed.hooks import register_seed_step

    register_seed_step("messaging.demo", seed_campaign)
