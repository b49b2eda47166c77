"""Each dashboard's numbers against hand computation on tests/analytics/dashboard_data.py (the expected values are
worked out in the comments, not taken from the code)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from siyu.analytics import queries
from siyu.analytics.dashboards.framework import Board, Figure, Table, clear_cache
from siyu.analytics.engine import CopyEngine
from siyu.analytics.engine.copy import ColumnarCopy
from siyu.org.scope import Scope, scope_for_staff
from tests.analytics import dashboard_data as data

MARCH = {"start": "2026-03-01", "end": "2026-03-31"}


@pytest.fixture(autouse=True)
def _no_cache(settings: Any) -> Iterator[None]:
    settings.SIYU_DASHBOARD_CACHE_TTL = 0
    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def brand(db: None) -> data.Brand:
    return data.brand()


@pytest.fixture
def engine(brand: data.Brand) -> Iterator[CopyEngine]:
    built = ColumnarCopy(None, capture_changes=False, threads=1)
    built.build(bulk=False)
    yield CopyEngine(built)
    built.close()


def figures(board: Board) -> dict[str, Figure]:
    return {f.key: f for f in board.figures}


def table(board: Board, key: str) -> Table:
    return next(t for t in board.tables if t.key == key)


def values(board: Board, key: str) -> dict[str, tuple[Any, Any]]:
    return {k: (f.value, f.previous) for k, f in figures(board).items()}


def test_overview_hq(brand: data.Brand, engine: CopyEngine) -> None:
    board = queries.dashboard(Scope.hq(brand.enterprise.pk), "overview", MARCH, engine=engine)
    got = {k: (f.value, f.previous) for k, f in figures(board).items()}
    # pool: c1..c4 by the end of 03-31 (c4 at 23:30 counts, c5 at 00:10 on 04-01 does not); before: c1 only
    assert got["pool"] == (4, 1)
    # relationships added in March: c2, c4 (A); in the previous period: c1 (B). Lost in March: c1 deleted B.
    assert got["new_contacts"] == (2, 1)
    assert got["lost_contacts"] == (1, 0)
    # active in March: c1 (03-10), c2 (03-02), c3 (03-31 23:30); not c5 (04-01 00:10). February: c1.
    assert got["active"] == (3, 1)
    # paid orders in March: c1 10000 + 5000, c2 20000 + 6000 (the cancelled 70000 and c5's April order excluded)
    assert got["orders"] == (4, 1)
    assert got["gmv"] == (41000, 8000)
    assert got["aov"] == (10250, 8000)
    assert got["conversion"] == (pytest.approx(2 / 3), 1.0)  # buyers c1, c2 of 3 active; February 1 of 1
    assert got["repurchase"] == (1.0, 0.0)  # both buyers ordered twice; February's one buyer once
    pool = table(board, "pool")
    assert pool.rows[0][0] == "2026-03-01" and pool.rows[-1][0] == "2026-03-31"
    by_key = dict(zip([c.key for c in pool.columns], pool.rows[-1], strict=True))
    assert (by_key["ch_wecom"], by_key["ch_miniprogram"], by_key["total"]) == (2, 2, 4)
    first = dict(zip([c.key for c in pool.columns], pool.rows[0], strict=True))
    assert first["total"] == 1  # only c1 on 03-01
    sales = {row[0]: row[1:3] for row in table(board, "sales").rows}
    assert sales["2026-03-03"] == [1, 20000] and sales["2026-03-20"] == [1, 5000] and sales["2026-03-07"] == [0, 0]


def test_overview_store_manager_sees_their_store(brand: data.Brand, engine: CopyEngine) -> None:
    board = queries.dashboard(scope_for_staff(brand.manager), "overview", MARCH, engine=engine)
    got = {k: f.value for k, f in figures(board).items()}
    # S1: c1, c2, c4 (home store S1); c3 and c5 are S2's and follow nobody of S1
    assert got["pool"] == 3
    assert got["active"] == 2  # c1, c2
    assert (got["orders"], got["gmv"]) == (4, 41000)


def test_overview_staff_sees_own_customers_only(brand: data.Brand, engine: CopyEngine) -> None:
    board = queries.dashboard(scope_for_staff(brand.staff_a), "overview", MARCH, engine=engine)
    got = {k: f.value for k, f in figures(board).items()}
    # A follows c2 and c4: not HQ's 4 customers and 41000 fen
    assert got["pool"] == 2
    assert (got["active"], got["orders"], got["gmv"]) == (1, 2, 26000)


def test_filters_channel_and_store(brand: data.Brand, engine: CopyEngine) -> None:
    hq = Scope.hq(brand.enterprise.pk)
    mini = figures(queries.dashboard(hq, "overview", {**MARCH, "channel": "miniprogram"}, engine=engine))
    assert (mini["pool"].value, mini["active"].value, mini["orders"].value) == (2, 1, 0)  # c3, c4; c3 active
    s2 = figures(queries.dashboard(hq, "overview", {**MARCH, "store": str(brand.s2.pk)}, engine=engine))
    assert (s2["pool"].value, s2["active"].value) == (1, 1)  # c3 (c5 after the range)


def test_other_enterprise_never_appears(brand: data.Brand, engine: CopyEngine) -> None:
    board = queries.dashboard(Scope.hq(brand.other.pk), "overview", MARCH, engine=engine)
    got = {k: f.value for k, f in figures(board).items()}
    assert (got["pool"], got["gmv"], got["orders"]) == (1, 123400, 1)
    with pytest.raises(queries.NotFound):
        queries.dashboard(Scope.hq(brand.other.pk), "overview", {**MARCH, "store": str(brand.s1.pk)}, engine=engine)


def test_aarrr_funnel(brand: data.Brand, engine: CopyEngine) -> None:
    board = queries.dashboard(Scope.hq(brand.enterprise.pk), "conversion", MARCH, engine=engine)
    funnel = table(board, "aarrr")
    counts = [row[1] for row in funnel.rows]
    # cohort: c2, c3, c4 added in March; activated c2 (+1 h), c3 (+624 h); first order c2 (+24 h);
    # repeat c2 (+48 h); referred c2 (counted invitee at +24 h after the repeat)
    assert counts == [3, 2, 1, 1, 1]
    cycles = [row[4] for row in funnel.rows]
    assert cycles == [None, pytest.approx(312.5), 24.0, 48.0, 24.0]
    assert funnel.rows[1][3] == pytest.approx(2 / 3)
    by_source = {row[0]: row[1:6] for row in table(board, "aarrr_by_source").rows}
    assert by_source == {"wecom": [1, 1, 1, 1, 1], "miniprogram": [2, 1, 0, 0, 0]}
    by_month = {row[0]: row[1:6] for row in table(board, "aarrr_by_cohort").rows}
    assert by_month == {"2026-03": [3, 2, 1, 1, 1]}
    assert figures(board)["acquired"].previous == 1  # c1 added in February


def test_retention_weekly_by_first_add(brand: data.Brand, engine: CopyEngine) -> None:
    board = queries.dashboard(Scope.hq(brand.enterprise.pk), "retention", {**MARCH, "cohort": "add",
                                                                             "period": "week"}, engine=engine)
    activity = {row[0]: row[1:] for row in table(board, "activity").rows}
    # week of 03-02: c2 (active that week), c3 (active in the week of 03-30, 4 weeks on); week of 03-30: c4
    assert activity["2026-03-02"] == [2, 0.5, 0.0, 0.0, 0.0, 0.5]
    assert activity["2026-03-30"] == [1, 0.0, None, None, None, None]
    purchase = {row[0]: row[1:] for row in table(board, "purchase").rows}
    assert purchase["2026-03-02"] == [2, 0.5, 0.0, 0.0, 0.0, 0.0]  # c2 bought in its first week only


def test_retention_monthly_by_first_order(brand: data.Brand, engine: CopyEngine) -> None:
    board = queries.dashboard(Scope.hq(brand.enterprise.pk), "retention", {**MARCH, "cohort": "order",
                                                                             "period": "month"}, engine=engine)
    # first paid order in March: c2 only (c1's first was in February; c5's in April)
    assert {row[0]: row[1:] for row in table(board, "purchase").rows} == {"2026-03-01": [1, 1.0]}


def test_event_funnel_reports_open_windows_apart(db: None) -> None:
    """page_viewed -> product_viewed within 24 h -> check_in within 2 h, over March, in an enterprise of its own."""
    shop = data.EnterpriseFactory.create(code="funnel", name="Funnel")
    people = {n: data.customer(shop, created=data.sh(2, 1), store=None, source="wecom")
              for n in ("f1", "f2", "f3", "f4", "f5")}
    ev = data.event
    ev(people["f1"], "page_viewed", data.sh(3, 10, 10))
    ev(people["f1"], "product_viewed", data.sh(3, 10, 20))  # +10 h
    ev(people["f1"], "check_in", data.sh(3, 10, 21))  # +1 h: completes
    ev(people["f2"], "page_viewed", data.sh(3, 12, 10))
    ev(people["f2"], "product_viewed", data.sh(3, 14, 10))  # +48 h: too late, dropped at step 2
    ev(people["f3"], "page_viewed", data.sh(3, 31, 20))
    ev(people["f3"], "product_viewed", data.sh(4, 1, 0, 10))  # after the range: its window is still open
    ev(people["f4"], "page_viewed", data.sh(3, 20, 10))
    ev(people["f4"], "product_viewed", data.sh(3, 20, 11))  # +1 h; no check-in: dropped at step 3
    ev(people["f5"], "page_viewed", data.sh(3, 31, 23))
    ev(people["f5"], "product_viewed", data.sh(3, 31, 23, 30))  # +0.5 h; check-in window open past the end
    built = ColumnarCopy(None, capture_changes=False, threads=1)
    built.build(bulk=False)
    try:
        board = queries.dashboard(Scope.hq(shop.pk), "conversion",
                                  {**MARCH, "steps": "page_viewed,product_viewed,check_in", "windows": "24,2"},
                                  engine=CopyEngine(built))
    finally:
        built.close()
    rows = {row[1]: row for row in table(board, "funnel").rows}
    # columns: n, event, window, reached, still in window, dropped, rate, settled rate, median hours
    assert rows["page_viewed"][3] == 5
    assert rows["product_viewed"][2:6] == [24, 3, 1, 1]  # f1 f4 f5 reached; f3 open; f2 dropped
    assert rows["product_viewed"][6] == pytest.approx(3 / 5)
    assert rows["product_viewed"][7] == pytest.approx(3 / 4)
    assert rows["product_viewed"][8] == 1.0  # median of 10, 1, 0.5 hours
    assert rows["check_in"][2:6] == [2, 1, 1, 1]  # f1 reached; f5 open; f4 dropped
    assert rows["check_in"][8] == 1.0


def test_bad_filters_name_the_field(brand: data.Brand, engine: CopyEngine) -> None:
    hq = Scope.hq(brand.enterprise.pk)
    cases = [({"start": "2026-13-01"}, "start"), ({"start": "2026-03-05", "end": "2026-03-01"}, "start"),
             ({"channel": "fax"}, "channel"), ({"steps": "page_viewed,nope"}, "steps"),
             ({"steps": "page_viewed,check_in", "windows": "0"}, "windows"), ({"cohort": "x"}, "cohort"),
             ({"store": "12a"}, "store"), ({"start": "2020-01-01", "end": "2026-01-01"}, "start")]
    for params, field in cases:
        with pytest.raises(queries.ValidationFailed) as caught:
            queries.dashboard(hq, "conversion", params, engine=engine)
        assert caught.value.field == field, params
    with pytest.raises(queries.NotFound):
        queries.dashboard(hq, "nope", MARCH, engine=engine)


def test_answers_are_cached_per_query_and_params(brand: data.Brand, engine: CopyEngine, settings: Any) -> None:
    settings.SIYU_DASHBOARD_CACHE_TTL = 60
    hq = Scope.hq(brand.enterprise.pk)
    first = queries.dashboard(hq, "overview", MARCH, engine=engine)
    again = queries.dashboard(hq, "overview", MARCH, engine=engine)
    other = queries.dashboard(scope_for_staff(brand.staff_a), "overview", MARCH, engine=engine)
    assert first.cached == 0 and again.cached == again.queries > 0
    assert other.cached == 0  # another scope is another key
    assert again.as_of == first.as_of is not None
