"""RFM quintiles, the eight cells, lifecycle stages, super-user scores and their movement, against values worked out
by hand.

Evaluation at 2026-06-15 04:00 UTC, default rules (window 365 days; new 30; active 30; silent 60; at risk 120).
Buyers (each order 100 yuan, paid): b1 one order 10 days ago (plus one 400 days ago, outside the window); b2 two,
last 20 days ago; b3 three, last 31 days ago; b4 four, last 40 days ago; b5 five, last 200 days ago.
Non-buyers: n1 joined 5 days ago; n2 joined 100 days ago, viewed a page 70 days ago; n3 joined 400 days ago.

Quintile edges (linear interpolation): F and M over 1..5 -> 1.8, 2.6, 3.4, 4.2 so scores 1..5 in order; recency over
[10, 20, 31, 40, 200] -> 18, 26.6, 34.6, 72, so R = 5, 4, 3, 2, 1.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from siyu.analytics.engine.copy import ColumnarCopy
from siyu.audiences import rfm
from siyu.audiences.models import CustomerScore
from siyu.customers.models import Event
from tests.audiences.data import add_event, add_order, write_people
from tests.conftest import Org

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 15, 4, 0, tzinfo=UTC)
D = timedelta(days=1)


def _world(org: Org) -> dict[str, int]:
    ent = org.enterprise.pk
    w = write_people(ent, {**{f"b{i}": {"created_at": NOW - 500 * D} for i in range(1, 6)},
                           "n1": {"created_at": NOW - 5 * D}, "n2": {"created_at": NOW - 100 * D},
                           "n3": {"created_at": NOW - 400 * D}})
    orders = {"b1": [10, 400], "b2": [20, 40], "b3": [31, 50, 70], "b4": [40, 50, 60, 70],
              "b5": [200, 210, 220, 230, 240]}
    for who, days in orders.items():
        for d in days:
            add_order(w, ent, who, status="completed", paid_at=NOW - d * D, paid_fen=10000)
    add_event(w, ent, "n2", "page_viewed", NOW - 70 * D, path="/")
    return w.ids


def _scores() -> dict[int, CustomerScore]:
    return {s.customer_id: s for s in CustomerScore.objects.all()}


def test_scores_cells_stages_and_super_users(org: Org, copy: ColumnarCopy) -> None:
    ids = _world(org)
    copy.build()
    result = rfm.run_rfm(copy, org.enterprise.pk, now=NOW)
    assert result.run is not None
    assert result.run.edges["f"] == pytest.approx([1.8, 2.6, 3.4, 4.2])
    assert result.run.edges["r"] == pytest.approx([18, 26.6, 34.6, 72])
    scores = _scores()
    got = {name: (scores[i].r, scores[i].f, scores[i].m, scores[i].cell, scores[i].stage) for name, i in ids.items()}
    assert got == {
        "b1": (5, 1, 1, "general_develop", "active"),
        "b2": (4, 2, 2, "general_develop", "active"),
        "b3": (3, 3, 3, "important_value", "silent"),
        "b4": (2, 4, 4, "important_keep", "silent"),
        "b5": (1, 5, 5, "important_keep", "churned"),
        "n1": (0, 0, 0, "", "new"),
        "n2": (0, 0, 0, "", "at_risk"),
        "n3": (0, 0, 0, "", "churned"),
    }
    assert scores[ids["b1"]].recency_days == 10 and scores[ids["b5"]].monetary_fen == 50000
    # spend percent rank x 0.4 + repeat share x 0.2 + engagement percent rank x 0.2 (referrals, paid: 0)
    assert scores[ids["b5"]].super_score == pytest.approx(56.0)  # 100 * (0.4 * 1 + 0.2 * 4/5)
    assert scores[ids["b1"]].super_score == pytest.approx(17.1)  # 100 * 0.4 * 3/7
    assert scores[ids["n2"]].super_score == pytest.approx(20.0)  # 100 * 0.2 * 1
    assert result.run.cells == {"general_develop": 2, "important_value": 1, "important_keep": 2, "none": 3}
    assert result.run.stages == {"active": 2, "silent": 2, "churned": 2, "new": 1, "at_risk": 1}
    assert not Event.objects.filter(name="lifecycle_changed").exists()  # first stages are a baseline


def test_a_second_run_records_movement_and_stage_changes(org: Org, copy: ColumnarCopy) -> None:
    ids = _world(org)
    copy.build()
    rfm.run_rfm(copy, org.enterprise.pk, now=NOW)
    later = NOW + D
    from siyu.orders.models import Order

    Order.objects.create(enterprise=org.enterprise, customer_id=ids["b5"], order_no="LATE1", status="paid",
                         amount_fen=10000, paid_fen=10000, created_at=later, paid_at=later)
    copy.refresh()
    second = rfm.run_rfm(copy, org.enterprise.pk, now=later + timedelta(hours=1))
    assert second.run is not None
    b5 = CustomerScore.objects.get(customer_id=ids["b5"])
    assert b5.stage == "won_back"  # was churned, bought again
    changes = Event.objects.filter(name="lifecycle_changed", customer_id=ids["b5"])
    assert [e.properties for e in changes] == [{"from_stage": "churned", "to_stage": "won_back"}]
    assert second.run.stage_movement["churned"]["won_back"] == 1
    assert second.run.movement["important_keep"]["important_value"] == 1  # R rises to 5 (R, F, M all high)
