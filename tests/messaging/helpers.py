"""Hand-made customers for the campaign tests: each reachable on a chosen set of channels."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from siyu.customers.models import (
    Consent,
    ConsentMethod,
    Customer,
    Identity,
    IdentityKind,
    MarketingChannel,
    Relationship,
)
from siyu.messaging.models import Campaign, Delivery, DeliveryStatus, DoNotDisturb
from siyu.org.models import Staff
from tests.conftest import Org

_counter = [0]


def make_customer(org: Org, *, name: str = "", wecom: Staff | None = None, oa: bool = False, phone: bool = False,
                  sms_consent: bool = False, withdraw: tuple[str, ...] = (), dnd: bool = False) -> Customer:
    _counter[0] += 1
    n = _counter[0]
    ent = org.enterprise
    customer = Customer.objects.create(enterprise=ent, name=name or f"顾客{n}", created_at=timezone.now(),
                                       phone=f"139{n:08d}" if phone else "", home_store=org.store_n1)
    if wecom is not None:
        Identity.objects.create(enterprise=ent, customer=customer, kind=IdentityKind.WECOM_EXTERNAL_USERID,
                                value=f"wm{n:06d}")
        Relationship.objects.create(customer=customer, staff=wecom, added_at=timezone.now() - timedelta(days=30))
    if oa:
        Identity.objects.create(enterprise=ent, customer=customer, kind=IdentityKind.OA_OPENID, value=f"oa{n:06d}")
    if sms_consent:
        Consent.objects.create(enterprise=ent, customer=customer, channel=MarketingChannel.SMS, granted=True,
                               method=ConsentMethod.values[0], text="同意接收短信", recorded_at=timezone.now()
                               - timedelta(days=1))
    for channel in withdraw:
        Consent.objects.create(enterprise=ent, customer=customer, channel=channel, granted=False,
                               method=ConsentMethod.values[0], recorded_at=timezone.now() - timedelta(hours=1))
    if dnd:
        DoNotDisturb.objects.create(enterprise=ent, customer=customer, reason="投诉")
    return customer


def past_contacts(org: Org, customer: Customer, channel: str, when: list[datetime]) -> None:
    """Contacts another (finished) campaign already made: written by hand, one row each."""
    for index, moment in enumerate(when):
        campaign = Campaign.objects.create(enterprise=org.enterprise, name=f"old {index}", audience_kind="list",
                                           channels=[channel], content={channel: "x"}, status="done")
        Delivery.objects.create(campaign=campaign, enterprise=org.enterprise, customer=customer,
                                key=f"campaign:{campaign.pk}:customer:{customer.pk}", channel=channel,
                                status=DeliveryStatus.SENT, due_at=moment, sent_at=moment, created_at=moment)
