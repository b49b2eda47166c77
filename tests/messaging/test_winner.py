"""Winner promotion (issue 28): with a test share, the variants go first to the customers the stable hash puts in
the test and the rest wait; the winner by the primary metric then goes to the rest, refused while the test is still
being sent and, unless forced, when it is not significant; the scheduled evaluation records a non-significant
outcome. Revenue per recipient is compared with Welch's t-test from SQL sums, checked against scipy on the raw
values; the z-test's p-value against the normal tail written out by hand."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from scipy import stats

from simulator.state import Simulator
from siyu.core.audit import AuditEntry
from siyu.core.errors import Conflict
from siyu.messaging import queries, services, winner
from siyu.messaging.models import Delivery
from siyu.messaging.planning import stable_hash
from siyu.messaging.queries import VariantResult
from siyu.orders.models import Order
from siyu.org.scope import Scope
from tests.conftest import Org
from tests.messaging.conftest import MORNING, Accounts, Clock
from tests.messaging.helpers import make_customer
from tests.messaging.kit import sim, sms_campaign

__all__ = ["sim"]

VARIANTS = [{"name": "A"}, {"name": "B", "content": {"sms": "B版 {name}"}}]


def test_the_test_share_goes_first_and_the_winner_to_the_rest(org: Org, hq: Scope, accounts: Accounts,
                                                             clock: Clock, sim: Simulator) -> None:
    people = [make_customer(org, phone=True, sms_consent=True) for _ in range(24)]
    campaign = sms_campaign(hq, accounts, [c.pk for c in people], "A版 {name}", variants=VARIANTS, test_pct=50)
    # by hand from the documented hash: the test is the second digit pair under 50, the variant the first pair's
    expected = {}
    for c in people:
        h = stable_hash(c.pk, campaign.pk)
        expected[c.pk] = ("planned", "AB"[(h // 100) % 2]) if (h // 10000) % 100 < 50 else ("waiting", "")
    assert {d.customer_id: (d.status, d.variant) for d in Delivery.objects.filter(campaign=campaign)} == expected
    tested = [cid for cid, (status, _v) in expected.items() if status == "planned"]
    assert 0 < len(tested) < 24  # this dataset has both sides
    with pytest.raises(Conflict) as running:
        services.promote_winner(scope=hq, campaign_id=campaign.pk)
    assert running.value.code == "test_running"
    assert services.send_due() == len(tested)
    with pytest.raises(Conflict) as weak:  # nobody bought: A and B tie, nothing is significant
        services.promote_winner(scope=hq, campaign_id=campaign.pk)
    assert weak.value.code == "not_significant"
    clock.tick(timedelta(hours=1))
    promoted = services.promote_winner(scope=hq, campaign_id=campaign.pk, variant="B", force=True)
    assert promoted.winner == "B" and promoted.promotion["forced"] is True
    assert promoted.promotion["promoted"] == 24 - len(tested)
    rest = Delivery.objects.filter(campaign=campaign, customer_id__in=set(expected) - set(tested))
    assert set(rest.values_list("status", "variant", "due_at")) == {("planned", "B", MORNING + timedelta(hours=1))}
    assert AuditEntry.objects.filter(action="messaging.campaign.promote", target_id=campaign.pk).count() == 1
    assert services.send_due() == 24 - len(tested)
    for c in people:
        if c.pk not in tested:
            assert sim.sms.messages(c.phone) == [f"【品牌】B版 {c.name}"]
    with pytest.raises(Conflict) as again:
        services.promote_winner(scope=hq, campaign_id=campaign.pk, force=True)
    assert again.value.code == "already_promoted"


def test_the_scheduled_evaluation_records_a_weak_result(org: Org, hq: Scope, accounts: Accounts, clock: Clock,
                                                       sim: Simulator) -> None:
    people = [make_customer(org, phone=True, sms_consent=True) for _ in range(12)]
    campaign = sms_campaign(hq, accounts, [c.pk for c in people], "A版", variants=VARIANTS, test_pct=50,
                            evaluate_at=MORNING + timedelta(hours=2))
    services.send_due()
    assert services.evaluate_due_tests() == 0  # not yet time
    campaign.refresh_from_db()
    assert campaign.promotion == {}
    clock.tick(timedelta(hours=2))
    assert services.evaluate_due_tests() == 0
    campaign.refresh_from_db()
    assert campaign.promotion["outcome"] == "not_significant" and campaign.winner == ""
    assert Delivery.objects.filter(campaign=campaign, status="waiting").exists()


def _group(variant: str, n: int, conversions: int = 0, values: list[int] | None = None) -> VariantResult:
    values = values or []
    return VariantResult(variant=variant, recipients=n, conversions=conversions, revenue_fen=sum(values),
                         revenue_sq=float(sum(v * v for v in values)))


def test_the_conversion_winner_and_its_p_value_by_hand() -> None:
    decision = winner.decide([_group("A", 100, 30), _group("B", 100, 15), _group("", 50, 5)], "conversion")
    # pooled p = 45/200; se = sqrt(p(1-p)(1/100+1/100)); z = 0.15/se; p = erfc(z/sqrt 2)
    pooled = 45 / 200
    z = 0.15 / math.sqrt(pooled * (1 - pooled) * 0.02)
    assert decision is not None
    assert (decision.winner, decision.against, decision.significant) == ("A", "B", True)
    assert decision.p_value == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-9)
    assert decision.p_value == pytest.approx(0.01109, abs=5e-5)
    named = winner.decide([_group("A", 100, 30), _group("B", 100, 15)], "conversion", chosen="B")
    assert named is not None and (named.winner, named.against, named.significant) == ("B", "A", False)


def test_the_revenue_winner_matches_welch_on_the_raw_values() -> None:
    a = [0, 0, 0, 12000, 5000, 0, 8000, 0, 0, 9900]
    b = [0, 0, 0, 0, 3000, 0, 0, 0, 0, 100]
    decision = winner.decide([_group("A", 10, 4, a), _group("B", 10, 2, b)], "revenue")
    reference = stats.ttest_ind(a, b, equal_var=False)
    assert decision is not None and decision.winner == "A"
    assert decision.p_value == pytest.approx(float(reference.pvalue), rel=1e-9)
    assert decision.significant == (reference.pvalue < 0.05)


def test_revenue_per_recipient_sums_come_from_sql(org: Org, hq: Scope, accounts: Accounts, clock: Clock,
                                                  sim: Simulator) -> None:
    people = [make_customer(org, phone=True, sms_consent=True) for _ in range(16)]
    campaign = sms_campaign(hq, accounts, [c.pk for c in people], "A版", variants=VARIANTS)
    services.send_due()
    variant_of = dict(Delivery.objects.filter(campaign=campaign).values_list("customer_id", "variant"))
    day2 = datetime(2026, 12, 21, 2, tzinfo=UTC)
    amounts: dict[int, list[int]] = {}  # each buyer's orders in the window, by hand
    for n, c in enumerate(people[:8]):
        amounts[c.pk] = [1000 * (n + 1)] + ([500] if n % 3 == 0 else [])
        for k, amount in enumerate(amounts[c.pk]):
            Order.objects.create(enterprise=org.enterprise, customer=c, order_no=f"W{n}-{k}", status="paid",
                                 amount_fen=amount, paid_fen=amount, created_at=day2, paid_at=day2)
    per: dict[str, list[int]] = {"A": [], "B": []}
    for c in people:
        per[variant_of[c.pk]].append(sum(amounts.get(c.pk, [])))
    rows = queries.revenue_significance_of(queries.variant_results(hq, campaign.pk))
    reference = stats.ttest_ind(per["B"], per["A"], equal_var=False)
    assert len(rows) == 1 and (rows[0].variant, rows[0].against) == ("B", "A")
    assert rows[0].variant_mean_fen == pytest.approx(sum(per["B"]) / len(per["B"]))
    assert rows[0].p_value == pytest.approx(float(reference.pvalue), rel=1e-9)
