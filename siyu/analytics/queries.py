"""Read paths of the dashboards: parse and check the filters a viewer asks for, then answer one dashboard.

Every figure is cut to the viewer's scope (HQ all, a region manager their region, a store manager their store,
store staff their own customers: siyu.analytics.engine.scope); a store or region outside it is NotFound, like an id
of another enterprise."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, timedelta
from typing import Any

from django.utils.translation import gettext_lazy as _

from siyu.analytics.dashboards import (
    campaigns,
    conversion,
    overview,
    products,
    retention,
    supervision,
    traffic,
    users,
)
from siyu.analytics.dashboards.framework import Board, Filters, Runner, board_dict
from siyu.analytics.engine import Engine
from siyu.analytics.models import AcquisitionCost
from siyu.core.errors import NotFound, PermissionDenied, ValidationFailed
from siyu.core.timeutil import local_day, now
from siyu.customers import events as event_types
from siyu.customers.models import Channel
from siyu.org import queries as org_queries
from siyu.org.scope import Scope

DEFAULT_DAYS = 30
MAX_DAYS = 366

Builder = Callable[[Filters, Runner], Board]
DASHBOARDS: dict[str, Builder] = {
    "overview": overview.build,
    "conversion": conversion.build,
    "retention": retention.build,
    "products": products.build,
    "users": users.build,
    "traffic": traffic.build,
    "campaigns": campaigns.build,
    "supervision": supervision.build,
}
TITLES = {"overview": _("Overview"), "conversion": _("Conversion"), "retention": _("Retention"),
          "products": _("Products"), "users": _("Users"),
          "traffic": _("Traffic"), "campaigns": _("Campaigns"), "supervision": _("Supervision")}


def names() -> list[str]:
    return list(DASHBOARDS)


def titles() -> dict[str, Any]:
    """The dashboards' tab labels, in menu order."""
    return {name: TITLES[name] for name in DASHBOARDS}


def _day(data: Mapping[str, str], key: str, default: date) -> date:
    raw = (data.get(key) or "").strip()
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise ValidationFailed(_("Give the day as YYYY-MM-DD."), field=key, code="date_format") from exc


def _int(data: Mapping[str, str], key: str) -> int | None:
    raw = (data.get(key) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise ValidationFailed(_("Give a number."), field=key, code="number_format")
    return int(raw)


def _funnel_options(data: Mapping[str, str]) -> list[tuple[str, str]]:
    raw_steps = (data.get("steps") or "").strip()
    raw_windows = (data.get("windows") or "").strip()
    out: list[tuple[str, str]] = []
    if raw_steps:
        steps = [s.strip() for s in raw_steps.split(",") if s.strip()]
        known = set(event_types.registered_names())
        if not 2 <= len(steps) <= conversion.MAX_STEPS:
            raise ValidationFailed(_("A funnel has 2 to %(n)s steps.") % {"n": conversion.MAX_STEPS},
                                   field="steps", code="funnel_steps")
        unknown = [s for s in steps if s not in known]
        if unknown:
            raise ValidationFailed(_("Unknown event: %(name)s") % {"name": unknown[0][:40]}, field="steps",
                                   code="unknown_event")
        out.append(("steps", ",".join(steps)))
    if raw_windows:
        parts = [w.strip() for w in raw_windows.split(",") if w.strip()]
        if len(parts) > conversion.MAX_STEPS or not all(w.isdigit() and 1 <= int(w) <= conversion.MAX_WINDOW_HOURS
                                                        for w in parts):
            raise ValidationFailed(_("Each window is a whole number of hours from 1 to %(n)s.")
                                   % {"n": conversion.MAX_WINDOW_HOURS}, field="windows", code="funnel_windows")
        out.append(("windows", ",".join(str(int(w)) for w in parts)))
    return out


def _options(data: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    out = _funnel_options(data)
    for key, allowed in (("cohort", retention.COHORTS), ("period", retention.PERIODS)):
        value = (data.get(key) or "").strip()
        if value:
            if value not in allowed:
                raise ValidationFailed(_("Choose one of: %(values)s") % {"values": ", ".join(allowed)}, field=key,
                                       code="choice")
            out.append((key, value))
    return tuple(sorted(out))


def parse_filters(scope: Scope, data: Mapping[str, str]) -> Filters:
    """The filters from a query string; bad values are a ValidationFailed naming the field, a store or region the
    viewer may not see is NotFound."""
    today = local_day(now())
    end = _day(data, "end", today)
    start = _day(data, "start", end - timedelta(days=DEFAULT_DAYS - 1))
    if start > end:
        raise ValidationFailed(_("The range starts after it ends."), field="start", code="date_range")
    if (end - start).days + 1 > MAX_DAYS:
        raise ValidationFailed(_("The range is at most %(n)s days.") % {"n": MAX_DAYS}, field="start",
                               code="date_range")
    channel = (data.get("channel") or "").strip()
    if channel and channel not in Channel.values:
        raise ValidationFailed(_("Unknown channel."), field="channel", code="choice")
    store_id, region_id = _int(data, "store"), _int(data, "region")
    if store_id is not None:
        org_queries.get_store(scope, store_id)
    if region_id is not None:
        org_queries.get_region(scope, region_id)
    return Filters(scope=scope, start=start, end=end, channel=channel, store_id=store_id, region_id=region_id,
                   options=_options(data))


def dashboard(scope: Scope, name: str, data: Mapping[str, str], *, engine: Engine | None = None) -> Board:
    builder = DASHBOARDS.get(name)
    if builder is None:
        raise NotFound(_("no such dashboard"), field="name")
    filters = parse_filters(scope, data)
    runner = Runner(engine=engine)
    board = builder(filters, runner)
    return Board(board.name, board.title, board.filters, board.figures, board.tables, board.definitions,
                 runner.as_of, queries=len(runner.names), cached=runner.hits)


def channel_choices() -> list[tuple[str, str]]:
    return [(str(v), str(label)) for v, label in Channel.choices]


def dashboard_json(scope: Scope, name: str, data: Mapping[str, str], *, engine: Engine | None = None
                   ) -> dict[str, Any]:
    return board_dict(dashboard(scope, name, data, engine=engine))


def acquisition_costs(scope: Scope, *, limit: int = 200) -> list[AcquisitionCost]:
    """The enterprise's latest cost entries (HQ only: spend is the enterprise's)."""
    if not scope.is_hq:
        raise PermissionDenied(_("Only HQ sees acquisition costs."))
    return list(AcquisitionCost.objects.filter(enterprise_id=scope.enterprise_id).order_by("-day", "-id")[:limit])
