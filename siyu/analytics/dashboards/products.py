"""Products: the daily sales trend with anomaly flags, repurchase rate and median repurchase cycle per product,
bought-together pairs (support, confidence, lift), the product role matrix (share of first orders and of sales per
traffic / profit / image role) and where each product's buyers came from.

Anomalies use the modified z-score of Iglewicz and Hoaglin against a trailing window: for each day, the median `m`
and the median absolute deviation `MAD` of the TRAILING_DAYS days before it; z = 0.6745 (x - m) / MAD, a day is
flagged when |z| > Z_LIMIT. When MAD is 0 (a flat baseline) the mean absolute deviation × 1.2533 stands in for it
(the same scale for normal data); when that is 0 too the day is not scored. The daily totals are a few hundred numbers
at most, so the score is computed here on the engine's per-day answer.

Sales of a product are its order lines' payable amount (the line's share after discounts) in paid orders; the copy
holds no unit cost, so the role matrix compares shares of sales, not of margin."""

from __future__ import annotations

from datetime import date, timedelta
from statistics import median
from typing import Any

from django.utils.translation import gettext as _

from siyu.analytics.dashboards.framework import (
    LOCAL_DAY,
    PAID_STATUSES,
    Board,
    Chart,
    Column,
    Figure,
    Filters,
    Runner,
    Table,
    as_day,
    customer_where,
    marks,
    ratio,
)
from siyu.customers.models import Channel

TRAILING_DAYS = 14
Z_LIMIT = 3.5
MAD_SCALE = 0.6745
MEAN_AD_SCALE = 1.2533
TOP_PRODUCTS = 50
TOP_PAIRS = 30
ROLES = ("traffic", "profit", "image")


def _paid_cte(filters: Filters, lo: Any, hi: Any) -> tuple[str, list[Any]]:
    """`sc`: the viewer's customers with their source; `po`: their paid orders in [lo, hi)."""
    where, params = customer_where(filters)
    sql = (f"sc AS (SELECT c.id, CAST(c.created_source AS VARCHAR) AS src FROM customers c WHERE {where}), "  # noqa: S608
           "po AS (SELECT o.id, o.customer_id, o.paid_at FROM orders o JOIN sc ON sc.id = o.customer_id "
           f"WHERE o.status IN ({marks(PAID_STATUSES)}) AND o.paid_at >= ? AND o.paid_at < ?)")
    return sql, [*params, *PAID_STATUSES, lo, hi]


def _daily_sql(filters: Filters) -> tuple[str, list[Any]]:
    lo, hi = filters.bounds()
    cte, params = _paid_cte(filters, lo - timedelta(days=TRAILING_DAYS), hi)
    day = LOCAL_DAY.format(col="po.paid_at")
    sql = (f"WITH {cte} SELECT {day} AS d, SUM(l.payable_fen) AS fen, SUM(l.quantity) AS units, "  # noqa: S608
           "count(DISTINCT po.id) AS orders FROM po JOIN order_lines l ON l.order_id = po.id GROUP BY 1 ORDER BY 1")
    return sql, params


def _lines_cte(filters: Filters) -> tuple[str, list[Any]]:
    lo, hi = filters.bounds()
    cte, params = _paid_cte(filters, lo, hi)
    sql = (f"{cte}, pl AS (SELECT po.id AS order_id, po.customer_id, po.paid_at, l.product_id, "  # noqa: S608
           "SUM(l.quantity) AS units, SUM(l.payable_fen) AS fen FROM po JOIN order_lines l ON l.order_id = po.id "
           "WHERE l.product_id IS NOT NULL GROUP BY po.id, po.customer_id, po.paid_at, l.product_id)")
    return sql, params


def _products_sql(filters: Filters) -> tuple[str, list[Any]]:
    """Per product: units, sales, orders, buyers, repeat buyers, first orders containing it, the median repurchase
    cycle; with the totals of sales and first orders for the shares."""
    where, scope_params = customer_where(filters)
    lo, hi = filters.bounds()
    cte, params = _lines_cte(filters)
    sql = (
        f"WITH {cte}, "  # noqa: S608
        # a customer's first paid order ever (before the range's end), kept when it falls in the range
        "firsts AS (SELECT x.id FROM (SELECT o.id, o.paid_at, "
        " ROW_NUMBER() OVER (PARTITION BY o.customer_id ORDER BY o.paid_at, o.id) AS k FROM orders o "
        f" WHERE o.status IN ({marks(PAID_STATUSES)}) AND o.paid_at < ? "
        f" AND o.customer_id IN (SELECT c.id FROM customers c WHERE {where})) x WHERE x.k = 1 AND x.paid_at >= ?), "
        "seq AS (SELECT customer_id, product_id, paid_at, "
        " ROW_NUMBER() OVER (PARTITION BY customer_id, product_id ORDER BY paid_at, order_id) AS k FROM pl), "
        "cyc AS (SELECT a.product_id, MEDIAN(date_diff('second', a.paid_at, b.paid_at)) AS s FROM seq a "
        " JOIN seq b ON b.customer_id = a.customer_id AND b.product_id = a.product_id AND b.k = a.k + 1 "
        " GROUP BY a.product_id), "
        "per AS (SELECT product_id, customer_id, count(*) AS n FROM pl GROUP BY product_id, customer_id), "
        "rep AS (SELECT product_id, SUM(CASE WHEN n >= 2 THEN 1 ELSE 0 END) AS r FROM per GROUP BY product_id), "
        "agg AS (SELECT product_id, SUM(units) AS u, SUM(fen) AS f, count(*) AS o, count(DISTINCT customer_id) AS b, "
        " SUM(CASE WHEN order_id IN (SELECT id FROM firsts) THEN 1 ELSE 0 END) AS fo FROM pl GROUP BY product_id) "
        "SELECT agg.product_id, CAST(p.name AS VARCHAR), CAST(p.role AS VARCHAR), agg.u, agg.f, agg.o, agg.b, rep.r, "
        " agg.fo, cyc.s, (SELECT SUM(fen) FROM pl), (SELECT count(*) FROM firsts) "
        "FROM agg LEFT JOIN products p ON p.id = agg.product_id LEFT JOIN rep ON rep.product_id = agg.product_id "
        "LEFT JOIN cyc ON cyc.product_id = agg.product_id ORDER BY agg.f DESC, agg.product_id"
    )
    return sql, [*params, *PAID_STATUSES, hi, *scope_params, lo]


def _pairs_sql(filters: Filters) -> tuple[str, list[Any]]:
    """Pairs of products in the same paid order: orders with both, with each, and all orders with a product."""
    cte, params = _lines_cte(filters)
    sql = (
        f"WITH {cte}, op AS (SELECT DISTINCT order_id, product_id FROM pl), "  # noqa: S608
        "one AS (SELECT product_id, count(*) AS k FROM op GROUP BY product_id), "
        "two AS (SELECT a.product_id AS pa, b.product_id AS pb, count(*) AS k FROM op a "
        " JOIN op b ON b.order_id = a.order_id AND b.product_id > a.product_id GROUP BY a.product_id, b.product_id) "
        "SELECT two.pa, two.pb, CAST(x.name AS VARCHAR), CAST(y.name AS VARCHAR), two.k, oa.k, ob.k, "
        " (SELECT count(DISTINCT order_id) FROM op) "
        "FROM two JOIN one oa ON oa.product_id = two.pa JOIN one ob ON ob.product_id = two.pb "
        "LEFT JOIN products x ON x.id = two.pa LEFT JOIN products y ON y.id = two.pb "
        f"ORDER BY two.k DESC, two.pa, two.pb LIMIT {TOP_PAIRS}"
    )
    return sql, params


def _sources_sql(filters: Filters) -> tuple[str, list[Any]]:
    cte, params = _lines_cte(filters)
    sql = (f"WITH {cte} SELECT pl.product_id, sc.src, count(DISTINCT pl.customer_id) FROM pl "  # noqa: S608
           "JOIN sc ON sc.id = pl.customer_id GROUP BY pl.product_id, sc.src")
    return sql, params


def _totals_sql(filters: Filters) -> tuple[str, list[Any]]:
    cte, params = _lines_cte(filters)
    sql = (f"WITH {cte} SELECT SUM(fen), SUM(units), count(DISTINCT product_id), "  # noqa: S608
           "count(DISTINCT customer_id) FROM pl")
    return sql, params


def robust_z(value: float, baseline: list[float]) -> float | None:
    """The modified z-score of `value` against `baseline` (None when the baseline is too short or flat)."""
    if len(baseline) < TRAILING_DAYS // 2:
        return None
    mid = median(baseline)
    mad = median(abs(x - mid) for x in baseline)
    scale = mad / MAD_SCALE if mad else MEAN_AD_SCALE * sum(abs(x - mid) for x in baseline) / len(baseline)
    if not scale:
        return None
    return (value - mid) / scale


def _trend(filters: Filters, rows: list[tuple[Any, ...]]) -> tuple[Table, int]:
    by_day = {as_day(r[0]): r for r in rows}
    first = filters.start - timedelta(days=TRAILING_DAYS)
    series: list[tuple[date, int, int, int]] = []
    for offset in range(filters.days + TRAILING_DAYS):
        day = first + timedelta(days=offset)
        found = by_day.get(day)
        series.append((day, int(found[1] or 0), int(found[2] or 0), int(found[3] or 0)) if found else (day, 0, 0, 0))
    out: list[list[Any]] = []
    flagged = 0
    for i in range(TRAILING_DAYS, len(series)):
        day, fen, units, orders = series[i]
        baseline = [float(x[1]) for x in series[i - TRAILING_DAYS:i]]
        z = robust_z(float(fen), baseline)
        flag = "" if z is None or abs(z) <= Z_LIMIT else ("▲" if z > 0 else "▼")
        flagged += 1 if flag else 0
        out.append([day.isoformat(), fen, units, orders, int(median(baseline)),
                    None if z is None else round(z, 2), flag])
    columns = (Column("day", _("Day"), "date"), Column("sales", _("Sales"), "fen"), Column("units", _("Units")),
               Column("orders", _("Orders")), Column("baseline", _("Trailing median"), "fen"),
               Column("z", _("Robust z-score"), "number"), Column("flag", _("Anomaly"), "text"))
    note = _("Modified z-score against the median and MAD of the %(n)s days before; flagged beyond ±%(z)s.") % {
        "n": TRAILING_DAYS, "z": Z_LIMIT}
    return Table("trend", _("Sales trend"), columns, out, Chart("line", "day", ("sales", "baseline")), note), flagged


def _days(seconds: Any) -> float | None:
    return None if seconds is None else round(float(seconds) / 86400, 1)


def _name(pid: Any, name: Any) -> str:
    return str(name) if name else f"#{pid}"


def _product_tables(rows: list[tuple[Any, ...]]) -> tuple[list[Table], dict[int, str]]:
    total_fen = int(rows[0][10] or 0) if rows else 0
    total_first = int(rows[0][11] or 0) if rows else 0
    names: dict[int, str] = {}
    out: list[list[Any]] = []
    roles: dict[str, list[int]] = {r: [0, 0, 0] for r in ROLES}  # products, sales, first orders
    for pid, name, role, units, fen, orders, buyers, repeaters, first_orders, cycle, _tf, _tfo in rows:
        names[int(pid)] = _name(pid, name)
        bucket = roles.setdefault(str(role or ""), [0, 0, 0])
        bucket[0] += 1
        bucket[1] += int(fen or 0)
        bucket[2] += int(first_orders or 0)
        if len(out) < TOP_PRODUCTS:
            out.append([names[int(pid)], str(role or ""), int(units or 0), int(fen or 0), int(orders), int(buyers),
                        ratio(int(repeaters or 0), int(buyers)), _days(cycle),
                        ratio(int(first_orders or 0), total_first), ratio(int(fen or 0), total_fen)])
    columns = (Column("product", _("Product"), "text"), Column("role", _("Role"), "text"), Column("units", _("Units")),
               Column("sales", _("Sales"), "fen"), Column("orders", _("Orders")), Column("buyers", _("Buyers")),
               Column("repurchase", _("Repurchase rate"), "ratio"),
               Column("cycle_days", _("Repurchase cycle (median days)"), "number"),
               Column("first_share", _("Share of first orders"), "ratio"),
               Column("sales_share", _("Share of sales"), "ratio"))
    products = Table("products", _("Products"), columns, out, Chart("bar", "product", ("repurchase",)))
    matrix_rows = [[role, v[0], ratio(v[2], total_first), ratio(v[1], total_fen), v[1], v[2]]
                   for role, v in roles.items()]
    matrix = Table("roles", _("Product role matrix"),
                   (Column("role", _("Role"), "text"), Column("products", _("Products sold")),
                    Column("first_share", _("Share of first orders"), "ratio"),
                    Column("sales_share", _("Share of sales"), "ratio"), Column("sales", _("Sales"), "fen"),
                    Column("first_orders", _("First orders containing them"))),
                   matrix_rows, Chart("bar", "role", ("first_share", "sales_share")),
                   _("A traffic product should carry first orders, a profit product sales; an image product neither."))
    return [products, matrix], names


def _pairs(rows: list[tuple[Any, ...]]) -> Table:
    out = []
    for pa, pb, na, nb, both, ka, kb, n in rows:
        both, ka, kb, n = int(both), int(ka), int(kb), int(n)
        out.append([_name(pa, na), _name(pb, nb), both, ratio(both, n), ratio(both, ka), ratio(both, kb),
                    ratio(both * n, ka * kb)])
    columns = (Column("product_a", _("Product A"), "text"), Column("product_b", _("Product B"), "text"),
               Column("orders", _("Orders with both")), Column("support", _("Support"), "ratio"),
               Column("conf_ab", _("Confidence A→B"), "ratio"), Column("conf_ba", _("Confidence B→A"), "ratio"),
               Column("lift", _("Lift"), "number"))
    return Table("pairs", _("Bought together"), columns, out, None)


def _sources(rows: list[tuple[Any, ...]], names: dict[int, str]) -> Table:
    top = list(names)[:20]
    sources = sorted({str(r[1] or "") for r in rows})
    counts = {(int(r[0]), str(r[1] or "")): int(r[2]) for r in rows}
    out = [[names[p], *(counts.get((p, s), 0) for s in sources)] for p in top]
    labels = {str(v): str(label) for v, label in Channel.choices}
    columns = (Column("product", _("Product"), "text"),
               *(Column(f"src_{s or 'none'}", labels.get(s, s) if s else _("none")) for s in sources))
    return Table("buyer_sources", _("Where each product's buyers came from"), columns, out,
                 Chart("bar", "product", tuple(c.key for c in columns[1:]), stack=True))


def _totals(runner: Runner, filters: Filters, suffix: str) -> list[int]:
    sql, params = _totals_sql(filters)
    row = runner.run(f"products_totals{suffix}", sql, params).rows[0]
    return [int(v or 0) for v in row]


def build(filters: Filters, runner: Runner) -> Board:
    daily_sql, daily_params = _daily_sql(filters)
    trend, flagged = _trend(filters, runner.run("products_daily", daily_sql, daily_params).rows)
    products_sql, products_params = _products_sql(filters)
    product_rows = runner.run("products_by_product", products_sql, products_params).rows
    (products, matrix), names = _product_tables(product_rows)
    pairs_sql, pairs_params = _pairs_sql(filters)
    pairs = _pairs(runner.run("products_pairs", pairs_sql, pairs_params).rows)
    sources_sql, sources_params = _sources_sql(filters)
    sources = _sources(runner.run("products_sources", sources_sql, sources_params).rows, names)
    now, before = _totals(runner, filters, ""), _totals(runner, filters.previous(), "_prev")
    figures = [
        Figure("sales", _("Product sales"), now[0], before[0], "fen"),
        Figure("units", _("Units sold"), now[1], before[1]),
        Figure("products", _("Products sold"), now[2], before[2]),
        Figure("buyers", _("Buyers"), now[3], before[3]),
        Figure("anomalies", _("Days flagged"), flagged, None),
    ]
    definitions = [
        _("Sales: the payable amount of order lines in orders paid in the range (after discounts; refunds are not "
          "subtracted), for the customers you see."),
        _("Anomaly: a day whose sales are more than 3.5 robust z-scores from the median of the 14 days before it "
          "(modified z-score = 0.6745 × (sales − median) / MAD)."),
        _("Repurchase rate: buyers of the product with two or more paid orders containing it in the range / its "
          "buyers; repurchase cycle: the median time between a customer's consecutive orders of it."),
        _("Bought together: support = orders with both / orders; confidence A→B = orders with both / orders with A; "
          "lift = confidence A→B / share of orders with B (above 1: bought together more often than by chance)."),
        _("Role matrix: each role's share of the first orders (a customer's first paid order ever, in the range) "
          "that contain its products, and of sales. No unit cost is recorded, so sales stand in for margin."),
        _("Buyers' source: the channel through which each buyer first joined the pool."),
    ]
    return Board("products", _("Products"), filters, figures, [trend, products, matrix, pairs, sources],
                 definitions, runner.as_of)
