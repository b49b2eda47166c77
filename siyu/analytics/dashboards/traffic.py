"""Traffic: where new customers came from (channel, WeCom channel code, Official Account scene, store, staff, public
platform import), natural against paid, the channel-code leaderboard and, where costs are entered, the cost per
acquired customer.

Paid traffic is defined by the costs themselves: a customer acquired in the range is paid when the channel they joined
through, or the state of a channel code they added a staff member with in the range, has an acquisition cost entered
in the range (siyu.analytics.models.AcquisitionCost); every other acquired customer is natural. The costs are a few
rows read from the OLTP database and passed to the engine as parameters."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from siyu.analytics.dashboards.framework import (
    Board,
    Chart,
    Column,
    Figure,
    Filters,
    Runner,
    Table,
    customer_where,
    marks,
    ratio,
)
from siyu.analytics.models import AcquisitionCost
from siyu.org import queries as org_queries

LOST_STATUSES = ("deleted_by_customer", "deleted_by_staff")
TOP = 20
NOTHING = "-" * 65  # stands in an empty IN list: longer than any channel or state column holds, so nothing equals it


def costs(filters: Filters) -> dict[tuple[str, str], int]:
    """(kind, key) -> fen of the costs entered for the range's days: kind is "channel" or "code"."""
    out: dict[tuple[str, str], int] = {}
    rows = AcquisitionCost.objects.filter(enterprise_id=filters.scope.enterprise_id, day__gte=filters.start,
                                          day__lte=filters.end).values_list("channel", "code_state", "amount_fen")
    for channel, state, fen in rows:
        key = ("channel", channel) if channel else ("code", state)
        out[key] = out.get(key, 0) + int(fen)
    return out


def _acquired_sql(filters: Filters, paid: dict[tuple[str, str], int]) -> tuple[str, list[Any]]:
    """Per (channel, home store): customers added in the range and the paid ones among them."""
    where, params = customer_where(filters)
    lo, hi = filters.bounds()
    channels = [k for kind, k in paid if kind == "channel"] or [NOTHING]
    states = [k for kind, k in paid if kind == "code"] or [NOTHING]
    sql = (
        f"WITH sc AS (SELECT c.id, CAST(c.created_source AS VARCHAR) AS src, c.home_store_id AS store "  # noqa: S608
        f" FROM customers c WHERE {where} AND c.created_at >= ? AND c.created_at < ?), "
        "pc AS (SELECT DISTINCT r.customer_id FROM relationships r WHERE r.customer_id IN (SELECT id FROM sc) "
        f" AND r.added_at >= ? AND r.added_at < ? AND r.state IN ({marks(states)})) "
        "SELECT sc.src, sc.store, count(*), "
        f" SUM(CASE WHEN sc.src IN ({marks(channels)}) OR sc.id IN (SELECT customer_id FROM pc) THEN 1 ELSE 0 END) "
        "FROM sc GROUP BY sc.src, sc.store"
    )
    return sql, [*params, lo, hi, lo, hi, *states, *channels]


def _contacts_sql(filters: Filters, group: str) -> tuple[str, list[Any]]:
    """Staff relationships added in the range, per channel-code state or per staff member: adds, distinct customers,
    those customers new to the pool in the range, and relationships deleted since."""
    where, params = customer_where(filters)
    lo, hi = filters.bounds()
    key = {"code": "r.state", "staff": "CAST(r.staff_id AS VARCHAR)"}[group]
    extra = " AND r.state <> ''" if group == "code" else ""
    sql = (
        f"SELECT {key} AS k, count(*), count(DISTINCT r.customer_id), "  # noqa: S608
        " count(DISTINCT CASE WHEN c.created_at >= ? THEN r.customer_id ELSE NULL END), "
        f" SUM(CASE WHEN r.status IN ({marks(LOST_STATUSES)}) THEN 1 ELSE 0 END) "
        f"FROM relationships r JOIN customers c ON c.id = r.customer_id WHERE {where} "
        f"AND r.added_at >= ? AND r.added_at < ?{extra} GROUP BY 1 ORDER BY 2 DESC, 1"
    )
    return sql, [lo, *LOST_STATUSES, *params, lo, hi]


def _scenes_sql(filters: Filters) -> tuple[str, list[Any]]:
    where, params = customer_where(filters)
    lo, hi = filters.bounds()
    sql = ("SELECT json_extract_string(e.properties, '$.scene') AS scene, count(DISTINCT e.customer_id) "  # noqa: S608
           "FROM events e WHERE e.name = 'oa_followed' AND e.occurred_at >= ? AND e.occurred_at < ? "
           f"AND e.customer_id IN (SELECT c.id FROM customers c WHERE {where}) GROUP BY 1 ORDER BY 2 DESC, 1")
    return sql, [lo, hi, *params]


def _acquired(runner: Runner, filters: Filters, paid: dict[tuple[str, str], int], suffix: str
              ) -> tuple[dict[str, list[int]], dict[int | None, int]]:
    sql, params = _acquired_sql(filters, paid)
    by_channel: dict[str, list[int]] = {}
    by_store: dict[int | None, int] = {}
    for src, store, n, paid_n in runner.run(f"traffic_acquired{suffix}", sql, params).rows:
        bucket = by_channel.setdefault(str(src or ""), [0, 0])
        bucket[0] += int(n)
        bucket[1] += int(paid_n or 0)
        key = None if store is None else int(store)
        by_store[key] = by_store.get(key, 0) + int(n)
    return by_channel, by_store


def _cost_table(paid: dict[tuple[str, str], int], by_channel: dict[str, list[int]],
                codes: list[tuple[Any, ...]]) -> Table:
    new_by_code = {str(r[0]): int(r[3]) for r in codes}
    rows = []
    for (kind, key), fen in sorted(paid.items()):
        acquired = by_channel.get(key, [0, 0])[0] if kind == "channel" else new_by_code.get(key, 0)
        rows.append([key, _("channel") if kind == "channel" else _("channel code"), fen, acquired,
                     fen // acquired if acquired else None])
    return Table("costs", _("Cost per acquired customer"),
                 (Column("source", _("Source"), "text"), Column("kind", _("Kind"), "text"),
                  Column("cost", _("Cost"), "fen"), Column("acquired", _("Customers acquired")),
                  Column("cpa", _("Cost per acquired customer"), "fen")),
                 rows, Chart("bar", "source", ("cpa",)),
                 _("Costs are entered by HQ under Data → Acquisition costs."))


def _contacts_table(key: str, title: str, first: Column, rows: list[list[Any]]) -> Table:
    return Table(key, title, (first, Column("adds", _("New contacts")), Column("customers", _("Customers")),
                              Column("new_to_pool", _("New to the pool")), Column("lost", _("Deleted since")),
                              Column("kept", _("Kept"), "ratio")),
                 rows, Chart("bar", first.key, ("adds", "new_to_pool")))


def _contact_rows(rows: list[tuple[Any, ...]], label: dict[str, str]) -> list[list[Any]]:
    return [[label.get(str(k), str(k)), int(a), int(c), int(n), int(lost or 0), ratio(int(a) - int(lost or 0), int(a))]
            for k, a, c, n, lost in rows[:TOP]]


def build(filters: Filters, runner: Runner) -> Board:
    paid = costs(filters)
    by_channel, by_store = _acquired(runner, filters, paid, "")
    before, _stores = _acquired(runner, filters.previous(), costs(filters.previous()), "_prev")
    acquired = sum(v[0] for v in by_channel.values())
    paid_n = sum(v[1] for v in by_channel.values())
    prev_acquired = sum(v[0] for v in before.values())
    prev_paid = sum(v[1] for v in before.values())
    channels = Table("channels", _("New customers by channel"),
                     (Column("channel", _("Channel"), "text"), Column("customers", _("Customers")),
                      Column("previous", _("Previous period")), Column("paid", _("Paid")),
                      Column("natural", _("Natural")), Column("share", _("Share"), "ratio")),
                     [[k, v[0], before.get(k, [0, 0])[0], v[1], v[0] - v[1],
                       ratio(v[0], acquired)] for k, v in sorted(by_channel.items(), key=lambda kv: -kv[1][0])],
                     Chart("bar", "channel", ("natural", "paid"), stack=True))
    codes_sql, codes_params = _contacts_sql(filters, "code")
    code_rows = runner.run("traffic_codes", codes_sql, codes_params).rows
    codes = _contacts_table("codes", _("Channel code leaderboard"), Column("code", _("Channel code state"), "text"),
                            _contact_rows(code_rows, {}))
    staff_sql, staff_params = _contacts_sql(filters, "staff")
    staff_names = {str(pk): name for pk, name in org_queries.staff(filters.scope).values_list("pk", "name")[:5000]}
    staff = _contacts_table("staff", _("New contacts by staff"), Column("staff", _("Staff"), "text"),
                            _contact_rows(runner.run("traffic_staff", staff_sql, staff_params).rows, staff_names))
    scenes_sql, scenes_params = _scenes_sql(filters)
    scenes = Table("scenes", _("Official Account follows by scene"),
                   (Column("scene", _("Scene"), "text"), Column("customers", _("Customers"))),
                   [[str(s or _("none")), int(n)] for s, n in runner.run("traffic_scenes", scenes_sql,
                                                                        scenes_params).rows[:TOP]],
                   Chart("bar", "scene", ("customers",)))
    store_names = dict(org_queries.stores(filters.scope).values_list("pk", "name")[:5000])
    stores = Table("stores", _("New customers by home store"),
                   (Column("store", _("Store"), "text"), Column("customers", _("Customers"))),
                   [[store_names.get(k, f"#{k}") if k is not None else _("none"), n]
                    for k, n in sorted(by_store.items(), key=lambda kv: -kv[1])[:TOP]],
                   Chart("bar", "store", ("customers",)))
    tables = [channels, codes, scenes, stores, staff]
    spent = sum(paid.values())
    figures = [
        Figure("acquired", _("New customers"), acquired, prev_acquired),
        Figure("natural", _("Natural"), acquired - paid_n, prev_acquired - prev_paid),
        Figure("paid", _("Paid"), paid_n, prev_paid),
        Figure("natural_share", _("Natural share"), ratio(acquired - paid_n, acquired),
               ratio(prev_acquired - prev_paid, prev_acquired), "ratio"),
        Figure("imported", _("From public platforms and imports"),
               sum(by_channel.get(k, [0, 0])[0] for k in ("platform", "import")),
               sum(before.get(k, [0, 0])[0] for k in ("platform", "import"))),
    ]
    if filters.scope.is_hq:  # spend is the enterprise's: a store's view would divide it by a part of its customers
        figures.append(Figure("cost", _("Acquisition cost"), spent, sum(costs(filters.previous()).values()), "fen"))
        figures.append(Figure("cpa", _("Cost per paid customer"), spent // paid_n if paid_n else None, None, "fen"))
        tables.insert(1, _cost_table(paid, by_channel, code_rows))
    definitions = [
        _("New customers: customers added to the pool in the range, by the channel they came through and their home "
          "store; public platforms and imports are the 'Public platform' and 'Import' channels."),
        _("Paid: new customers whose channel, or the channel code they added a staff member with in the range, has "
          "an acquisition cost entered for the range; natural: the others (a healthy pool keeps them near 1:1)."),
        _("Channel code leaderboard and staff: staff relationships added in the range (one customer may add "
          "several), the customers new to the pool among them, and how many were deleted since."),
        _("Official Account scenes: customers who followed in the range, by the QR scene they scanned."),
        _("Cost per acquired customer (HQ only): the costs entered for the range's days / the customers acquired "
          "through that source."),
    ]
    return Board("traffic", _("Traffic"), filters, figures, tables, definitions, runner.as_of)
