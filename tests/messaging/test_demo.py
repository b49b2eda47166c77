"""The demo's campaign (a seed step after the orders): planned by the real planner, launched ten days ago, the rows
in buckets 0-89 sent then and the rest left for the demo's worker; the orders its recipients paid within the 7-day
window credited first- and last-touch; a second seed leaves it alone."""

from __future__ import annotations

from datetime import timedelta

from siyu.core.seed import hooks
from siyu.messaging import demo
from siyu.messaging.models import Campaign, Conversion, Delivery
from siyu.orders.models import Order
from tests.conftest import Org
from tests.messaging.conftest import Accounts, Clock
from tests.messaging.helpers import make_customer


def test_the_demo_campaign_is_planned_partly_sent_and_credited(org: Org, accounts: Accounts, clock: Clock) -> None:
    names = [name for name, _step in hooks.seed_steps()]
    assert names.index("messaging.demo") > names.index("orders.demo")
    from django.utils import timezone

    now = timezone.now()
    people = [make_customer(org, phone=True, sms_consent=True) for _ in range(30)]
    make_customer(org)  # no phone: not in the demo's audience
    inside, outside = now - timedelta(days=7), now - timedelta(days=2)  # sent 10 days ago, window 7 days
    for n, person in enumerate(people):
        for when, tag in ((inside, "in"), (outside, "out")):
            Order.objects.create(enterprise=org.enterprise, customer=person, order_no=f"D{tag}{n}", status="paid",
                                 amount_fen=5000, paid_fen=5000, created_at=when, paid_at=when)
    demo.seed_campaign(org.enterprise.pk, None, None)
    campaign = Campaign.objects.get(enterprise=org.enterprise)
    assert campaign.status == "sending" and campaign.holdout_pct == 10
    assert campaign.plan["audience"] == 30  # every customer with a phone, once
    rows = Delivery.objects.filter(campaign=campaign)
    by_bucket = {d.customer_id: d for d in rows}
    sent = {cid for cid, d in by_bucket.items() if d.status in ("sent", "delivered")}
    expected_sent = {cid for cid, d in by_bucket.items() if not d.holdout and d.reason == "" and d.bucket < 90}
    assert sent == expected_sent and sent
    waiting = {cid for cid, d in by_bucket.items() if d.status == "planned"}
    assert waiting == {cid for cid, d in by_bucket.items() if not d.holdout and d.reason == "" and d.bucket >= 90}
    # one order each inside the window: first and last touch for each sent customer; none outside it
    assert Conversion.objects.filter(campaign=campaign).count() == 2 * len(sent)
    assert set(Conversion.objects.filter(campaign=campaign).values_list("delivery__customer_id", flat=True)) == sent
    demo.seed_campaign(org.enterprise.pk, None, None)
    assert Campaign.objects.filter(enterprise=org.enterprise).count() == 1
