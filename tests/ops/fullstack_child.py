"""The Django side of tests/ops/test_full_stack_faults.py, run as a child process against the test's PRIVATE
PostgreSQL (SIYU_DATABASE_URL set by the test; the test process itself stays on the suite's database):

    python tests/ops/fullstack_child.py seed SIM_PORT   # enterprise, 8 SKUs, WeCom app, mall app, pay merchant,
                                                        # and two planned SMS campaigns to their own recipients
    python tests/ops/fullstack_child.py launch CAMPAIGN_ID
    python tests/ops/fullstack_child.py sweep           # what `siyu scheduler` does for stale callbacks and due
                                                        # campaign sends, at once
    python tests/ops/fullstack_child.py counts ENTERPRISE_ID

Each prints one JSON line.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CORP = "wwfaultcorp00001"
TOKEN = "faultToken"  # noqa: S105 - a test credential
AES_KEY = "ZmF1bHR0ZXN0ZmF1bHR0ZXN0ZmF1bHR0ZXN0ZmF1bHQ"
SECRET = "faultSecret"  # noqa: S105 - a test credential
CAMPAIGN_RECIPIENTS = 60  # each of the two campaigns; nobody is in both (one contact a day each)


def _campaign_audiences(enterprise_id: int) -> list[int]:
    """Two SMS campaigns, planned (not launched), each to its own 60 customers with a phone and SMS consent."""
    from datetime import timedelta

    from django.utils import timezone

    from siyu.customers.models import Consent, ConsentMethod, Customer, MarketingChannel
    from siyu.messaging import services as campaigns
    from siyu.org.scope import Scope

    scope = Scope.hq(enterprise_id)
    campaigns.set_policy(scope=scope, values={"quiet_start_hour": 0, "quiet_end_hour": 0})  # real clock: no quiet
    now = timezone.now()
    ids = []
    for wave in range(2):
        people = Customer.objects.bulk_create([
            Customer(enterprise_id=enterprise_id, name=f"顾客{wave}-{n}", created_at=now,
                     phone=f"1370{wave}{n:06d}") for n in range(CAMPAIGN_RECIPIENTS)])
        Consent.objects.bulk_create([
            Consent(enterprise_id=enterprise_id, customer=person, channel=MarketingChannel.SMS, granted=True,
                    method=ConsentMethod.values[0], text="同意接收短信", recorded_at=now - timedelta(days=1))
            for person in people])
        campaign = campaigns.create_campaign(scope=scope, data=campaigns.CampaignInput(
            name=f"faults {wave}", audience_kind="list", customer_ids=[p.pk for p in people], channels=["sms"],
            content={"sms": "{name}，年终回馈"}, sms_sign="品牌"))
        campaigns.plan_campaign(scope=scope, campaign_id=campaign.pk)
        ids.append(campaign.pk)
    return ids


def seed(sim_port: int) -> dict[str, Any]:
    from siyu.catalog import services as catalog
    from siyu.catalog.models import Sku
    from siyu.channels import services as channel_services
    from siyu.channels.demo_accounts import MINIPROGRAM, PAY_MERCHANT
    from siyu.core.money import Money
    from siyu.finance import demo
    from siyu.org.models import Enterprise, Region, Role, Staff, Store
    from siyu.org.scope import Scope

    enterprise = Enterprise.objects.create(name="Faults", code="faults", wecom_corp_id=CORP)
    region = Region.objects.create(enterprise=enterprise, name="East", code="east")
    Store.objects.create(enterprise=enterprise, region=region, name="Shanghai 1", code="sh1")
    Staff.objects.create(enterprise=enterprise, name="hq", role=Role.HQ_ADMIN, wecom_userid="hq-admin")
    scope = Scope.hq(enterprise.pk)
    leaf = catalog.create_category(scope=scope, name="日用")
    for i in range(8):
        catalog.create_product(scope=scope, data=catalog.ProductInput(
            name=f"商品 {i}", category_id=leaf.pk, status="on_sale",
            skus=[catalog.SkuInput(code=f"F{i:03d}", price=Money(10_000 + 100 * i), stock=1_000_000)]))
    wecom = channel_services.ensure_account(
        enterprise_id=enterprise.pk, kind="wecom", name="faults", app_id=CORP, token=TOKEN,
        encoding_aes_key=AES_KEY, base_url=f"http://127.0.0.1:{sim_port}/wecom", secret=SECRET,
    )
    channel_services.ensure_account(
        enterprise_id=enterprise.pk, kind="miniprogram", name="mall", app_id=MINIPROGRAM.app_id,
        secret=MINIPROGRAM.secret, token="faultMp", base_url=f"http://127.0.0.1:{sim_port}/mp",  # noqa: S106
    )
    demo.ensure_demo_merchant(enterprise.pk, sim_port=sim_port, siyu_port=9)
    return {
        "campaign_ids": _campaign_audiences(enterprise.pk),
        "enterprise_id": enterprise.pk,
        "callback_path": f"/channels/wecom/callback/{wecom.pk}/",
        "notify_path": f"/finance/wechatpay/callback/{PAY_MERCHANT.mch_id}/",
        "sku_ids": list(Sku.objects.filter(enterprise_id=enterprise.pk).order_by("id").values_list("id", flat=True)),
    }


def launch(campaign_id: int) -> dict[str, Any]:
    from siyu.messaging import services as campaigns
    from siyu.messaging.models import Campaign
    from siyu.org.scope import Scope

    enterprise_id = Campaign.objects.values_list("enterprise_id", flat=True).get(pk=campaign_id)
    campaign = campaigns.launch_campaign(scope=Scope.hq(enterprise_id), campaign_id=campaign_id)  # job on commit
    return {"status": campaign.status}


def sweep() -> dict[str, Any]:
    from siyu.channels.wecom import inbound
    from siyu.messaging.tasks import send_due_task

    send_due_task.enqueue()  # the scheduler's 15-second job: due and lease-expired deliveries go out again
    return {"callbacks_requeued": inbound.requeue_stale(older_than_s=0)}


def counts(enterprise_id: int) -> dict[str, Any]:
    from django.db.models import Count, Sum

    from siyu.channels.models import InboundCallback
    from siyu.customers.models import Event, Identity
    from siyu.finance.models import JournalEntry, LedgerTransfer, Payment
    from siyu.messaging.models import Delivery
    from siyu.ops.consistency import run
    from siyu.orders.models import Order

    mine = InboundCallback.objects.filter(account__enterprise_id=enterprise_id)
    callbacks = dict(mine.values("status").annotate(n=Count("id")).values_list("status", "n"))
    events = dict(mine.values("event").annotate(n=Count("id")).values_list("event", "n"))
    contacts = Identity.objects.filter(enterprise_id=enterprise_id, kind="wecom_external_userid")
    payment_keys = list(JournalEntry.objects.filter(enterprise_id=enterprise_id, kind="payment")
                        .values_list("idempotency_key", flat=True))
    debits = dict(LedgerTransfer.objects.filter(enterprise_id=enterprise_id).values("debit_account")
                  .annotate(s=Sum("amount_fen")).values_list("debit_account", "s"))
    credits = dict(LedgerTransfer.objects.filter(enterprise_id=enterprise_id).values("credit_account")
                   .annotate(s=Sum("amount_fen")).values_list("credit_account", "s"))
    return {
        "callbacks": callbacks,
        "callback_events": events,
        "contacts": contacts.count(),
        "contact_values": contacts.values("value").distinct().count(),
        "orders": list(Order.objects.filter(enterprise_id=enterprise_id).order_by("id")
                       .values_list("id", "amount_fen", "paid_fen", "status")),
        "payments_paid": list(Payment.objects.filter(enterprise_id=enterprise_id, status="paid").order_by("order_id")
                              .values_list("order_id", "paid_fen")),
        "payment_entries": payment_keys,
        "order_paid_events": Event.objects.filter(enterprise_id=enterprise_id, name="order_paid").count(),
        "order_created_events": Event.objects.filter(enterprise_id=enterprise_id, name="order_created").count(),
        "debits": debits,
        "credits": credits,
        "deliveries": [[c, status, n] for c, status, n in
                       Delivery.objects.filter(enterprise_id=enterprise_id).values("campaign_id", "status")
                       .annotate(n=Count("id")).order_by("campaign_id", "status")
                       .values_list("campaign_id", "status", "n")],
        "delivery_phones": sorted(Delivery.objects.filter(enterprise_id=enterprise_id, status="sent")
                                  .values_list("customer__phone", flat=True)),
        "findings": [f"{f.check}: {f.count}" for f in run()],
    }


def main(argv: list[str]) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "siyu.settings")
    import django

    django.setup()
    command = argv[0]
    if command == "seed":
        out = seed(int(argv[1]))
    elif command == "launch":
        out = launch(int(argv[1]))
    elif command == "sweep":
        out = sweep()
    elif command == "counts":
        out = counts(int(argv[1]))
    else:
        raise SystemExit(__doc__)
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
