"""The H5 mall's member centre (/m/<enterprise>/me/): the shopper's tier card and progress, points with the lots
that expire first, today's check-in and this month's calendar, and the paid membership with the plans on sale.

Loyalty's pages sit here rather than in siyu.storefront because the storefront is below loyalty (loyalty reads the
shopper's session from it; the storefront never imports loyalty). They use the mall's page decorator, so the brand
comes from the URL and the customer from the brand's own session: a shopper only ever sees and changes their own.
Writes go through loyalty's services, each keyed by the business fact (the day for a check-in, the form's one-time
key for a purchase), so a double tap or a replayed form writes once."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from siyu.core.errors import ValidationFailed
from siyu.core.timeutil import local_day
from siyu.loyalty import queries, services
from siyu.storefront.mall_auth import Mall, mall_page, shopper

FORM_KEY = re.compile(r"[0-9a-f]{32}")
WEEKDAYS = ("一", "二", "三", "四", "五", "六", "日")


def _month_grid(first: date, checked: set[date], today: date) -> list[list[dict[str, object]]]:
    """The month as weeks (Monday first) of cells: the day, whether it was checked in, whether it is today; blank
    cells (None day) pad the first and last week."""
    following = (first + timedelta(days=32)).replace(day=1)
    cells: list[dict[str, object]] = [{"day": None}] * first.weekday()
    day = first
    while day < following:
        cells.append({"day": day.day, "checked": day in checked, "today": day == today})
        day += timedelta(days=1)
    cells += [{"day": None}] * (-len(cells) % 7)
    return [cells[i:i + 7] for i in range(0, len(cells), 7)]


def benefits(plan: Any) -> list[str]:
    """A plan's benefits as the mall says them (the mall is in Chinese): 会员价 / 9.5 折, 包邮, 积分 1.5 倍, coupons a
    month. Each is one checkout or the worker honours (the pricing engine applies the member price, the plan's share
    of the list price and its free shipping to a running member's orders)."""
    said = ["会员价"]
    if 0 < plan.member_price_percent < 100:
        said.append(f"全场 {Decimal(plan.member_price_percent) / Decimal(10)} 折起")
    if plan.free_shipping:
        said.append("下单包邮")
    if plan.points_multiplier_percent > 100:
        said.append(f"积分 {Decimal(plan.points_multiplier_percent) / Decimal(100)} 倍")
    if plan.coupons_per_month and plan.coupon_template_id:
        said.append(f"每月 {plan.coupons_per_month} 张会员券")
    return said


@require_GET
@mall_page(login=True)
def member_centre(request: HttpRequest, mall: Mall) -> HttpResponse:
    me = shopper(mall)
    now = timezone.now()
    ids = {"enterprise_id": mall.enterprise_id, "customer_id": me.customer_id}
    tier = queries.shopper_tier(**ids, now=now)
    membership = queries.membership_of(**ids, now=now, limit=5)
    calendar = queries.check_in_calendar(enterprise_id=mall.enterprise_id, customer_id=me.customer_id, now=now)
    first = date.fromisoformat(f"{calendar.month}-01")
    progress = 100
    if tier.next_tier is not None and tier.next_tier.threshold > 0:
        progress = min(100, tier.value * 100 // tier.next_tier.threshold)
    # a lot's expiry is the end of its last Shanghai day (the next midnight): the customer reads that last day
    lots = [(lot.remaining, local_day(lot.expires_at - timedelta(microseconds=1)))
            for lot in queries.expiring_lots(**ids, now=now)]
    return render(request, "loyalty/mall/member.html", {
        "mall": mall, "tier": tier, "progress": progress, "points": queries.shopper_points(**ids, now=now),
        "lots": lots,
        "calendar": calendar, "weeks": _month_grid(first, set(calendar.days), local_day(now)), "weekdays": WEEKDAYS,
        "membership": membership,
        "savings": queries.membership_savings(**ids, membership=membership),
        "plans": [(plan, benefits(plan)) for plan in queries.plans_on_sale(mall.enterprise_id, now=now)],
        "form_key": uuid.uuid4().hex,
        "checked": request.GET.get("checked", "")[:8],
    })


@require_POST
@mall_page(login=True)
def mall_check_in(request: HttpRequest, mall: Mall) -> HttpResponse:
    """Today's check-in (once per Shanghai day whatever is tapped: the (customer, day) row decides)."""
    me = shopper(mall)
    _row, first = services.check_in(enterprise_id=mall.enterprise_id, customer_id=me.customer_id)
    return redirect(f"{reverse('mall_member', args=[mall.code])}?checked={'new' if first else 'again'}")


@require_POST
@mall_page(login=True)
def mall_buy_plan(request: HttpRequest, mall: Mall, plan_id: int) -> HttpResponse:
    """Buy a period of a plan: the purchase and its unpaid order (keyed by the page's one-time form key, so a double
    tap makes one order), then the order's page, where it is paid like any other through WeChat Pay."""
    me = shopper(mall)
    key = (request.POST.get("form_key") or "").strip()
    if not FORM_KEY.fullmatch(key):
        raise ValidationFailed(_("this form has expired; open the page again"), field="form_key", code="bad_form_key")
    purchase = services.buy_membership(enterprise_id=mall.enterprise_id, customer_id=me.customer_id, plan_id=plan_id,
                                       key=f"e{mall.enterprise_id}:c{me.customer_id}:h5:{key}")
    return redirect(mall.url("order", purchase.order_id))
