"""Read paths over orders. Staff reads take a Scope; the shopper's own reads are siyu.storefront.queries.

Who sees which order: HQ every order; a region manager the orders of the region's stores and of the customers they
may see; a store manager the store's orders and its customers'; store staff the orders attributed to them and those
of their own customers. A platform order nobody matched has no customer: only HQ sees it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet, Sum
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from siyu.core.errors import NotFound, PermissionDenied
from siyu.core.pagination import Page, paginate
from siyu.core.timeutil import day_bounds
from siyu.customers import queries as customer_queries
from siyu.orders.models import (
    OPEN_AFTER_SALE,
    UNMATCHED_OUTCOMES,
    AfterSale,
    AfterSaleKind,
    AfterSaleLine,
    AfterSaleStatus,
    CancelReason,
    Fulfillment,
    ImportStatus,
    Order,
    OrderKind,
    OrderLine,
    OrderSource,
    OrderStatus,
    Platform,
    PlatformImport,
    PlatformImportRow,
    Presale,
    RowOutcome,
    StorefrontSession,
)
from siyu.org.models import Role
from siyu.org.scope import Scope
from siyu.promotions import queries as promotion_queries

# Labels for views and schemas (they may not import models).


def _choices(cls: Any) -> list[tuple[str, str]]:
    return [(value, str(label)) for value, label in cls.choices]


def status_choices() -> list[tuple[str, str]]:
    return _choices(OrderStatus)


def source_choices() -> list[tuple[str, str]]:
    return _choices(OrderSource)


def platform_choices() -> list[tuple[str, str]]:
    return _choices(Platform)


def after_sale_status_choices() -> list[tuple[str, str]]:
    return _choices(AfterSaleStatus)


def after_sale_kind_choices() -> list[tuple[str, str]]:
    return _choices(AfterSaleKind)


# Where an order line's unit price came from (OrderLine.price_source, written by the pricing engine).
PRICE_SOURCES = [("list", _("List price")), ("member", _("Member price")), ("flash_sale", _("Flash sale")),
                 ("group_buy", _("Group buy")), ("bundle", _("Bundle"))]


class _PriceSource:
    choices = PRICE_SOURCES


def label(kind: str, value: str) -> str:
    """The translated label of a stored code: kind is status, source, platform, fulfillment, cancel_reason,
    after_sale_status, after_sale_kind, order_kind, import_status, outcome or price_source."""
    table: dict[str, Any] = {
        "price_source": _PriceSource,
        "status": OrderStatus, "source": OrderSource, "platform": Platform, "fulfillment": Fulfillment,
        "cancel_reason": CancelReason, "after_sale_status": AfterSaleStatus, "after_sale_kind": AfterSaleKind,
        "order_kind": OrderKind, "import_status": ImportStatus, "outcome": RowOutcome,
    }
    labels = dict(table[kind].choices)
    return str(labels.get(value, value))


# ---------------------------------------------------------------------------------------------------------------
# Orders (staff)


def orders(scope: Scope) -> QuerySet[Order]:
    qs = Order.objects.filter(enterprise_id=scope.enterprise_id)
    if scope.is_hq:
        return qs
    theirs = Q(customer_id__in=customer_queries.visible_customer_ids(scope))
    if scope.role == Role.REGION_MANAGER:
        return qs.filter(theirs | Q(store__region_id__in=scope.region_ids))
    if scope.role == Role.STORE_MANAGER:
        return qs.filter(theirs | Q(store_id__in=scope.store_ids))
    return qs.filter(theirs | Q(staff_id=scope.staff_id or 0))


@dataclass(frozen=True)
class OrderFilter:
    status: str = ""
    store_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    customer: str = ""  # a customer id, phone or name
    customer_id: int | None = None
    source: str = ""
    platform: str = ""
    staff_id: int | None = None
    q: str = ""  # an order number (ours or the platform's)


def _customer_filter(qs: QuerySet[Order], text: str) -> QuerySet[Order]:
    if text.isdigit() and len(text) < 11:
        return qs.filter(customer_id=int(text))
    return qs.filter(Q(customer__phone__startswith=text) | Q(customer__name__icontains=text))


def filtered_orders(scope: Scope, flt: OrderFilter) -> QuerySet[Order]:
    """The visible orders matching a filter, newest first, with customer and store loaded (list and export)."""
    qs = orders(scope)
    exact = {"status": flt.status, "store_id": flt.store_id, "customer_id": flt.customer_id, "source": flt.source,
             "platform": flt.platform, "staff_id": flt.staff_id}
    qs = qs.filter(**{field: value for field, value in exact.items() if value})
    if flt.date_from:
        qs = qs.filter(created_at__gte=day_bounds(flt.date_from)[0])
    if flt.date_to:
        qs = qs.filter(created_at__lt=day_bounds(flt.date_to)[1])
    if flt.customer.strip():
        qs = _customer_filter(qs, flt.customer.strip())
    if flt.q.strip():
        qs = qs.filter(Q(order_no=flt.q.strip()) | Q(external_order_no=flt.q.strip()))
    return qs.select_related("customer", "store", "staff").order_by("-created_at", "-id")


def search_orders(scope: Scope, flt: OrderFilter, *, page: int = 1, page_size: int = 20) -> Page[Order]:
    return paginate(filtered_orders(scope, flt), page=page, page_size=page_size)


def with_details(qs: QuerySet[Order]) -> QuerySet[Order]:
    """Orders with what a detail view shows: lines, after-sales with their lines, customer, store, staff."""
    return qs.select_related("customer", "store", "staff", "presale").prefetch_related(
        Prefetch("lines", queryset=OrderLine.objects.order_by("index")),
        Prefetch("after_sales", queryset=AfterSale.objects.prefetch_related(
            Prefetch("lines", queryset=AfterSaleLine.objects.select_related("order_line"))).order_by("-id")),
    )


def get_order(scope: Scope, order_id: int) -> Order:
    found = with_details(orders(scope)).filter(pk=order_id).first()
    if found is None:
        raise NotFound(_("order %(order_id)s not found") % {"order_id": order_id}, field="order_id")
    return found


def customer_orders(scope: Scope, customer_id: int, *, limit: int = 20) -> tuple[list[Order], int]:
    """A customer's latest orders for their profile (the customer must be visible to the scope), and the count."""
    customer_queries.get_customer(scope, customer_id)
    qs = Order.objects.filter(enterprise_id=scope.enterprise_id, customer_id=customer_id)
    return list(qs.select_related("store").prefetch_related("lines").order_by("-created_at", "-id")[:limit]), qs.count()


def order_count(customer_id: int) -> int:
    """How many orders a customer has (the merge preview: both customers are in the caller's scope already)."""
    return Order.objects.filter(customer_id=customer_id).count()


def customer_order_totals(scope: Scope, customer_id: int) -> dict[str, int]:
    """Paid orders and money of one customer (their profile's summary)."""
    customer_queries.get_customer(scope, customer_id)
    paid = Order.objects.filter(enterprise_id=scope.enterprise_id, customer_id=customer_id,
                                status__in=["paid", "shipped", "picked_up", "completed"])
    totals = paid.aggregate(n=Count("id"), spent=Sum("paid_fen"), refunded=Sum("refunded_fen"))
    return {"orders": totals["n"] or 0, "spent_fen": (totals["spent"] or 0) - (totals["refunded"] or 0)}


@dataclass(frozen=True)
class MemberSavings:
    orders: int  # paid orders since the date that had a member benefit
    price_fen: int  # list price minus what the member paid, on member-priced lines
    shipping_fen: int  # shipping fees the paid plan waived


def member_savings(*, enterprise_id: int, customer_id: int, since: datetime) -> MemberSavings:
    """What a customer's membership has saved them on orders paid since `since` (the reason a member renews): the
    member-priced lines' list price minus their price, and the shipping the plan waived (the breakdown's
    `member_shipping`). One customer's orders, so the shipping part is read from their breakdowns."""
    paid = Order.objects.filter(enterprise_id=enterprise_id, customer_id=customer_id, paid_at__gte=since,
                                status__in=["paid", "shipped", "picked_up", "completed"])
    member_lines = OrderLine.objects.filter(order__in=paid, price_source="member")
    saved = member_lines.aggregate(fen=Sum((F("unit_list_price_fen") - F("unit_price_fen")) * F("quantity")))["fen"]
    benefited = set(member_lines.values_list("order_id", flat=True))
    shipping = 0
    for order_id, promotions in paid.values_list("id", "breakdown__promotions"):
        waived = sum(int(p.get("amount_fen") or 0) for p in promotions or ()
                     if isinstance(p, dict) and p.get("kind") == "member_shipping" and p.get("applied"))
        if waived:
            shipping += waived
            benefited.add(order_id)
    return MemberSavings(orders=len(benefited), price_fen=int(saved or 0), shipping_fen=shipping)


@dataclass(frozen=True)
class Action:
    name: str  # ship / pickup / complete / cancel / mark_paid
    label: str
    needs_hq: bool = False
    blocked: str = ""  # why the move is not possible yet (the console shows it disabled with this reason)


def _unformed_team(order: Order) -> str:
    """Why a paid group-buy order cannot leave yet ("" when it can, or when it is no group-buy order)."""
    from django.utils.translation import gettext as _

    if not any(line.group_buy_id for line in order.lines.all()):
        return ""
    team = promotion_queries.team_of_order(enterprise_id=order.enterprise_id, order_id=order.pk)
    if team is None:
        return _("Group buy: the order has no team yet; it ships once its team has formed.")
    if team.status == "complete":
        return ""
    return _("Group buy %(state)s (%(members)s of %(size)s): it ships once the team has formed.") % {
        "state": promotion_queries.team_status_label(team.status), "members": team.member_count, "size": team.size}


def order_actions(scope: Scope, order: Order) -> list[Action]:
    """The state moves the console offers for an order (the services still check them)."""
    open_after_sale = any(a.status in OPEN_AFTER_SALE for a in order.after_sales.all())
    actions: list[Action] = []
    if order.status == OrderStatus.PENDING_PAYMENT:
        actions.append(Action("cancel", gettext("Cancel order")))
        if scope.is_hq and order.kind == OrderKind.NORMAL:
            actions.append(Action("mark_paid", gettext("Record offline payment"), needs_hq=True))
    if order.status == OrderStatus.PAID and not open_after_sale:
        blocked = _unformed_team(order)
        if order.fulfillment == Fulfillment.DELIVERY:
            actions.append(Action("ship", gettext("Ship"), blocked=blocked))
        else:
            actions.append(Action("pickup", gettext("Handed over at the store"), blocked=blocked))
    if order.status in (OrderStatus.SHIPPED, OrderStatus.PICKED_UP):
        actions.append(Action("complete", gettext("Complete")))
    return actions


# ---------------------------------------------------------------------------------------------------------------
# After-sales


def after_sales(scope: Scope, *, status: str = "", page: int = 1, page_size: int = 20) -> Page[AfterSale]:
    qs = AfterSale.objects.filter(order__in=orders(scope)).select_related("order", "customer")
    if status:
        qs = qs.filter(status=status)
    return paginate(qs.order_by("-requested_at", "-id"), page=page, page_size=page_size)


def get_after_sale(scope: Scope, after_sale_id: int) -> AfterSale:
    found = AfterSale.objects.filter(pk=after_sale_id, order__in=orders(scope)).select_related(
        "order", "customer").prefetch_related(Prefetch("lines", AfterSaleLine.objects.select_related(
            "order_line"))).first()
    if found is None:
        raise NotFound(
            _("after-sale %(after_sale_id)s not found") % {"after_sale_id": after_sale_id},
            field="after_sale_id",
        )
    return found


def system_refunds_due() -> QuerySet[AfterSale]:
    """Approved full refunds the system decided (a group-buy team that failed, a group buy that ended before the
    order could take a seat), across enterprises: finance pays them back (a periodic job)."""
    return AfterSale.objects.filter(status=AfterSaleStatus.APPROVED, requested_by="system").select_related("order")


def open_after_sale_count(scope: Scope) -> int:
    return AfterSale.objects.filter(order__in=orders(scope), status=AfterSaleStatus.REQUESTED).count()


# ---------------------------------------------------------------------------------------------------------------
# Presales


def presales(scope: Scope) -> QuerySet[Presale]:
    return Presale.objects.filter(enterprise_id=scope.enterprise_id).select_related("sku", "sku__product")


def running_presales(*, enterprise_id: int, now: datetime | None = None) -> list[Presale]:
    """Presales taking deposits now (the storefront's 预售 page)."""
    from django.utils import timezone

    moment = now or timezone.now()
    return list(Presale.objects.filter(
        enterprise_id=enterprise_id, is_active=True, deposit_starts_at__lte=moment, deposit_ends_at__gt=moment,
        sku__is_active=True,
    ).select_related("sku", "sku__product").order_by("deposit_ends_at", "id"))


@dataclass(frozen=True)
class PresaleDemand:
    """One presale's demand for buying: units and orders by stage."""

    presale: Presale
    deposit_pending_orders: int
    deposit_pending_units: int
    deposits_paid_orders: int  # orders whose deposit is in (whether or not the balance is)
    deposits_paid_units: int
    balances_paid_orders: int
    balances_paid_units: int
    deposits_fen: int
    balances_fen: int
    cancelled_units: int


_DEPOSIT_IN = [OrderStatus.DEPOSIT_PAID, OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.PICKED_UP,
               OrderStatus.COMPLETED]
_BALANCE_IN = [OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.PICKED_UP, OrderStatus.COMPLETED]


def presale_demand(scope: Scope) -> list[PresaleDemand]:
    """Per presale (one SKU each): deposits pending / paid, balances paid, in orders and units, with the money in.
    Units are counted from the order lines; only HQ sees every presale's demand, others their visible orders'."""
    visible = orders(scope).filter(kind=OrderKind.PRESALE)
    units = "lines__quantity"

    def n(statuses: Sequence[str]) -> Count:
        return Count("orders", filter=Q(orders__status__in=statuses, orders__in=visible), distinct=True)

    def u(statuses: Sequence[str]) -> Sum:
        return Sum(f"orders__{units}", filter=Q(orders__status__in=statuses, orders__in=visible))

    rows = presales(scope).annotate(
        dp_n=n([OrderStatus.PENDING_PAYMENT]), dp_u=u([OrderStatus.PENDING_PAYMENT]),
        d_n=n(_DEPOSIT_IN), d_u=u(_DEPOSIT_IN), b_n=n(_BALANCE_IN), b_u=u(_BALANCE_IN),
        c_u=u([OrderStatus.CANCELLED]),
    ).order_by("-deposit_starts_at", "-id")
    out = []
    for p in rows:
        d_u, b_u = p.d_u or 0, p.b_u or 0
        out.append(PresaleDemand(
            presale=p, deposit_pending_orders=p.dp_n, deposit_pending_units=p.dp_u or 0,
            deposits_paid_orders=p.d_n, deposits_paid_units=d_u, balances_paid_orders=p.b_n,
            balances_paid_units=b_u, deposits_fen=d_u * p.deposit_fen,
            balances_fen=b_u * (p.price_fen - p.deposit_fen), cancelled_units=p.c_u or 0,
        ))
    return out


# ---------------------------------------------------------------------------------------------------------------
# Platform imports and invitation targets (HQ)


def platform_imports(scope: Scope) -> QuerySet[PlatformImport]:
    """Platform imports are HQ's: they hold every buyer of the file, whichever store they belong to."""
    if not scope.is_hq:
        raise PermissionDenied(_("only HQ sees platform order imports"))
    return PlatformImport.objects.filter(enterprise_id=scope.enterprise_id).defer("content").order_by("-id")


def get_platform_import(scope: Scope, import_id: int) -> PlatformImport:
    found = platform_imports(scope).filter(pk=import_id).first()
    if found is None:
        raise NotFound(_("import %(import_id)s not found") % {"import_id": import_id}, field="import_id")
    return found


def import_report_rows(scope: Scope, import_id: int) -> QuerySet[PlatformImportRow]:
    """The rows of an import that did not simply match a customer (new customers, unmatched, errors)."""
    get_platform_import(scope, import_id)
    return PlatformImportRow.objects.filter(platform_import_id=import_id).order_by("row_number")


_PRIVATE_DOMAIN = ["wecom_external_userid", "oa_openid", "mp_openid", "unionid"]


def sms_targets(scope: Scope) -> QuerySet[Any]:
    """Customers first met on a platform, with a full phone, not yet reachable through a channel we own (no WeCom,
    Official Account or mini-program identity): the SMS invitation list."""
    reached = customer_queries.customers(scope).filter(identities__kind__in=_PRIVATE_DOMAIN).values("id")
    return customer_queries.customers(scope).filter(created_source="platform").exclude(phone="").exclude(
        id__in=reached).order_by("-created_at", "-id")


def package_insert_targets(scope: Scope) -> QuerySet[PlatformImportRow]:
    """Platform buyers with a masked phone that matched nobody: a card in their next parcel is the way in. One row per
    buyer (their latest order)."""
    rows = PlatformImportRow.objects.filter(platform_import__enterprise_id=scope.enterprise_id,
                                            outcome__in=UNMATCHED_OUTCOMES, customer__isnull=True)
    later = rows.filter(platform=OuterRef("platform"), buyer_id=OuterRef("buyer_id"), id__gt=OuterRef("id"))
    return rows.exclude(buyer_id="").exclude(Exists(later)).order_by("-ordered_at", "-id")


@dataclass(frozen=True)
class InvitationCounts:
    sms: int
    package_insert: int
    by_platform: list[tuple[str, int, int]]  # platform, sms, package insert


def invitation_counts(scope: Scope) -> InvitationCounts:
    sms_rows = dict(
        PlatformImportRow.objects.filter(platform_import__enterprise_id=scope.enterprise_id,
                                         outcome=RowOutcome.CREATED_CUSTOMER, customer__in=sms_targets(scope))
        .values("platform").annotate(n=Count("customer", distinct=True)).values_list("platform", "n")
    )
    insert_rows = dict(package_insert_targets(scope).values("platform").annotate(n=Count("id")).order_by()
                       .values_list("platform", "n"))
    platforms = sorted(set(sms_rows) | set(insert_rows))
    return InvitationCounts(
        sms=sms_targets(scope).count(), package_insert=package_insert_targets(scope).count(),
        by_platform=[(label("platform", p), sms_rows.get(p, 0), insert_rows.get(p, 0)) for p in platforms],
    )


def order_count_since(scope: Scope, since: datetime) -> int:
    return orders(scope).filter(created_at__gte=since).count()


def session_openid(session_id: int) -> str:
    """The openid the storefront session signed in with (what WeChat Pay charges)."""
    return StorefrontSession.objects.filter(pk=session_id).values_list("openid", flat=True).first() or ""


ITEMS_NAMED = 3


def order_item_summaries(scope: Scope, order_ids: set[int]) -> dict[int, str]:
    """order id -> "name ×qty、name ×qty and N more" for the orders in scope (a customer's timeline names what each
    order event was for); one query for the orders' lines."""
    lines: dict[int, list[str]] = {}
    rows = (
        OrderLine.objects.filter(order__in=orders(scope).filter(pk__in=order_ids))
        .order_by("order_id", "index", "id").values_list("order_id", "name", "quantity")
    )
    for order_id, name, quantity in rows:
        lines.setdefault(order_id, []).append(f"{name} ×{quantity}")
    out = {}
    for order_id, items in lines.items():
        text = "、".join(items[:ITEMS_NAMED])
        if len(items) > ITEMS_NAMED:
            text += gettext(" and %(n)s more") % {"n": len(items) - ITEMS_NAMED}
        out[order_id] = text
    return out
