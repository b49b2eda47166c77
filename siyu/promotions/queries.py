"""Read paths over promotions, and the pricing loader.

Configuration reads take a Scope (promotions are enterprise-wide; every staff role may read them). Coupons are
per-customer: a scope sees the coupons of the customers it may see. `load_pricing_input` and `quote` act for a
customer at checkout and take the enterprise id of the mall.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any

from django.conf import settings
from django.db import connection, connections
from django.db.models import F, Field, Model, Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.catalog.models import Bundle as BundleModel
from siyu.catalog.models import BundleItem, Category, Product, ProductStatus, ProductStore, Sku
from siyu.core.errors import DomainError, NotFound, ValidationFailed
from siyu.core.money import Money
from siyu.core.pagination import Page, paginate
from siyu.customers import queries as customer_queries
from siyu.org.scope import Scope
from siyu.promotions import pricing
from siyu.promotions.models import (
    BenefitKind,
    Coupon,
    CouponBatch,
    CouponKind,
    CouponQuota,
    CouponStatus,
    CouponTemplate,
    FlashPurchase,
    FlashSale,
    FlashSaleItem,
    FullReduction,
    GroupBuy,
    GroupBuyTeam,
    PromotionScope,
    ShippingPolicy,
    TeamStatus,
    ThresholdKind,
    ValidityKind,
)
from siyu.promotions.pricing import (
    BundleInfo,
    CartLine,
    CouponInfo,
    FlashOffer,
    GroupOffer,
    PricingBreakdown,
    PricingInput,
    ReductionRule,
    ShippingRule,
    SkuInfo,
    TargetScope,
)


def coupon_kind_choices() -> list[tuple[str, str]]:
    return [(v, str(label)) for v, label in CouponKind.choices]


def scope_choices() -> list[tuple[str, str]]:
    return [(v, str(label)) for v, label in PromotionScope.choices]


def validity_choices() -> list[tuple[str, str]]:
    return [(v, str(label)) for v, label in ValidityKind.choices]


def threshold_kind_choices() -> list[tuple[str, str]]:
    return [(v, str(label)) for v, label in ThresholdKind.choices]


def benefit_kind_choices() -> list[tuple[str, str]]:
    return [(v, str(label)) for v, label in BenefitKind.choices]


def coupon_status_choices() -> list[tuple[str, str]]:
    return [(v, str(label)) for v, label in CouponStatus.choices]


# ---------------------------------------------------------------------------------------------------------------
# Coupon templates and coupons


def coupon_templates(scope: Scope) -> QuerySet[CouponTemplate]:
    return CouponTemplate.objects.filter(enterprise_id=scope.enterprise_id).prefetch_related("products", "categories")


def get_coupon_template(scope: Scope, template_id: int) -> CouponTemplate:
    found = coupon_templates(scope).filter(id=template_id).first()
    if found is None:
        raise NotFound(
            _("coupon template %(template_id)s not found") % {"template_id": template_id},
            field="template_id",
        )
    return found


def _visible_batches(scope: Scope, user: Any) -> QuerySet[CouponBatch]:
    qs = CouponBatch.objects.filter(enterprise_id=scope.enterprise_id)
    if scope.is_hq:
        return qs
    return qs.filter(created_by_id=getattr(user, "pk", None)) if scope.is_manager else qs.none()


def coupon_batches(scope: Scope, user: Any, *, template_id: int | None = None, page: int = 1) -> Page[CouponBatch]:
    """Issue batches the viewer may see: HQ every batch of the enterprise, a manager the ones they started (a
    batch's counts are of its starter's customers)."""
    qs = _visible_batches(scope, user).select_related("template", "created_by")
    if template_id is not None:
        qs = qs.filter(template_id=template_id)
    return paginate(qs, page=page, page_size=10)


def get_coupon_batch(scope: Scope, user: Any, batch_id: int) -> CouponBatch:
    found = _visible_batches(scope, user).filter(pk=batch_id).select_related("template").first()
    if found is None:
        raise NotFound(_("issue batch %(batch_id)s not found") % {"batch_id": batch_id}, field="batch_id",
                       code="batch_not_found")
    return found


BATCH_ERRORS = {
    "template_inactive": _("this coupon template is paused"),
    "coupon_expired": _("this coupon template has expired"),
    "worker_lost": _("the worker running it was lost too many times; start the issue again"),
}


def batch_error(batch: CouponBatch) -> str:
    """Why a batch failed, in the reader's language (the batch stores the refusal's code)."""
    if not batch.error:
        return ""
    return str(BATCH_ERRORS.get(batch.error, _("the issue stopped with an error (%(code)s)") % {"code": batch.error}))


def zhe(percent_off: int) -> str:
    """A percentage off as Chinese discount (折): 15% off is 8.5折, 20% off is 8折, 1% off is 9.9折."""
    tenths = 100 - percent_off
    return f"{tenths // 10}.{tenths % 10}" if tenths % 10 else str(tenths // 10)


def _yuan(fen: int) -> str:
    """Yuan as Chinese coupons write them: 50, 49.9, 0.99 (no currency sign, no trailing zeros)."""
    whole, cents = divmod(fen, 100)
    return str(whole) if not cents else f"{whole}.{cents:02d}".rstrip("0")


def template_value(template: CouponTemplate) -> str:
    """What the coupon is worth, in words, in the active language: "¥20.00 off over ¥99.00" / "满99元减20元",
    "15% off (up to ¥100.00)" / "8.5折（最多减100元）"."""
    money = lambda fen: str(Money(fen, template.currency))  # noqa: E731
    if template.kind == CouponKind.PERCENT:
        words = {"percent": template.percent_off, "zhe": zhe(template.percent_off)}
        text = _("%(percent)s%% off") % words
        if template.max_off_fen is not None:
            cap = template.max_off_fen
            text += _(" (up to %(cap)s)") % {"cap": money(cap), "cap_yuan": _yuan(cap)}
        if template.threshold_fen:
            return _("%(discount)s over %(threshold)s") % {
                "discount": text, "threshold": money(template.threshold_fen),
                "threshold_yuan": _yuan(template.threshold_fen)}
        return text
    amounts = {"amount": money(template.amount_off_fen or 0), "amount_yuan": _yuan(template.amount_off_fen or 0),
               "threshold": money(template.threshold_fen or 0), "threshold_yuan": _yuan(template.threshold_fen or 0)}
    if template.threshold_fen:
        return _("%(amount)s off over %(threshold)s") % amounts
    return _("%(amount)s off") % amounts


def template_expired(template: CouponTemplate, now: datetime | None = None) -> bool:
    """A fixed-window template whose window has ended: shown as expired, and nobody can be issued one."""
    moment = now or timezone.now()
    return (template.validity_kind == ValidityKind.FIXED and template.valid_until is not None
            and template.valid_until <= moment)


def issuable_templates(scope: Scope, *, limit: int = 200) -> list[CouponTemplate]:
    """Templates a coupon can be issued from now (active, not ended, not sold out), newest first: the choice offered
    by bulk issues."""
    now = timezone.now()
    qs = CouponTemplate.objects.filter(enterprise_id=scope.enterprise_id, is_active=True).exclude(
        Q(validity_kind=ValidityKind.FIXED, valid_until__lte=now)).exclude(
        Q(total_stock__isnull=False, issued_count__gte=F("total_stock")))
    return list(qs.order_by("-id")[:limit])


def coupons(scope: Scope) -> QuerySet[Coupon]:
    """Coupons of the customers this scope may see."""
    qs = Coupon.objects.filter(enterprise_id=scope.enterprise_id).select_related("template", "customer")
    if scope.is_hq:
        return qs
    return qs.filter(customer_id__in=customer_queries.visible_customer_ids(scope))


def profile_coupons(scope: Scope, customer_id: int, *, limit: int = 10) -> tuple[list[Coupon], int]:
    """A customer's latest coupons for their profile (a customer outside the scope has none to show) and the count."""
    qs = coupons(scope).filter(customer_id=customer_id)
    return list(qs.order_by("-issued_at", "-id")[:limit]), qs.count()


def search_coupons(
    scope: Scope, *, template_id: int | None = None, customer_id: int | None = None, status: str = "",
    page: int = 1, page_size: int = 20,
) -> Page[Coupon]:
    qs = coupons(scope)
    if template_id:
        qs = qs.filter(template_id=template_id)
    if customer_id:
        qs = qs.filter(customer_id=customer_id)
    if status:
        qs = qs.filter(status=status)
    return paginate(qs.order_by("-id"), page=page, page_size=page_size)


def get_coupon(scope: Scope, coupon_id: int) -> Coupon:
    found = coupons(scope).filter(id=coupon_id).first()
    if found is None:
        raise NotFound(
            _("coupon %(coupon_id)s not found") % {"coupon_id": coupon_id},
            field="coupon_id", code="coupon_not_found",
        )
    return found


def customer_coupons(*, enterprise_id: int, customer_id: int, usable_at: datetime | None = None) -> list[Coupon]:
    """A customer's own coupons (the storefront's "my coupons"); with `usable_at`, only those usable then."""
    qs = Coupon.objects.filter(enterprise_id=enterprise_id, customer_id=customer_id).select_related("template")
    if usable_at is not None:
        qs = qs.filter(status=CouponStatus.AVAILABLE, valid_from__lte=usable_at, valid_until__gt=usable_at)
    return list(qs.order_by("valid_until", "id"))


def customer_coupon(*, enterprise_id: int, customer_id: int, coupon_id: int) -> Coupon:
    """One of a customer's own coupons (another customer's is not found)."""
    found = Coupon.objects.filter(enterprise_id=enterprise_id, customer_id=customer_id, pk=coupon_id
                                  ).select_related("template").first()
    if found is None:
        raise NotFound(_("coupon %(coupon_id)s not found")
            % {"coupon_id": coupon_id}, field="coupon_id", code="coupon_not_found")
    return found


def claimable_templates(*, enterprise_id: int, now: datetime | None = None) -> list[CouponTemplate]:
    """Templates a customer may claim now (the coupon centre)."""
    moment = now or timezone.now()
    qs = CouponTemplate.objects.filter(enterprise_id=enterprise_id, claimable=True, is_active=True).filter(
        Q(validity_kind=ValidityKind.RELATIVE) | Q(valid_until__gt=moment)
    )
    return [t for t in qs.order_by("id") if t.total_stock is None or t.issued_count < t.total_stock]


def claimed_counts(*, customer_id: int, template_ids: Sequence[int]) -> dict[int, int]:
    """How many coupons of each template a customer holds already (the per-customer limit counts these)."""
    return dict(CouponQuota.objects.filter(customer_id=customer_id, template_id__in=list(template_ids))
                .values_list("template_id", "issued"))


# ---------------------------------------------------------------------------------------------------------------
# Full-reductions, flash sales, group buys


def full_reductions(scope: Scope) -> QuerySet[FullReduction]:
    return FullReduction.objects.filter(enterprise_id=scope.enterprise_id).prefetch_related("products", "categories")


def get_full_reduction(scope: Scope, reduction_id: int) -> FullReduction:
    found = full_reductions(scope).filter(id=reduction_id).first()
    if found is None:
        raise NotFound(
            _("full-reduction %(reduction_id)s not found") % {"reduction_id": reduction_id},
            field="reduction_id",
        )
    return found


def tiers_text(rule: FullReduction) -> str:
    """The tiers in the active language: "满199元减20元 / 满299元减40元", "满2件打9折" (English: "≥¥199.00 -¥20.00")."""
    parts = []
    for threshold, value in rule.tiers:
        words = {"threshold": str(Money(threshold, rule.currency)) if rule.threshold_kind == ThresholdKind.AMOUNT
                 else str(threshold), "threshold_yuan": _yuan(threshold), "pieces": threshold,
                 "amount": str(Money(value, rule.currency)), "amount_yuan": _yuan(value), "percent": value,
                 "zhe": zhe(value) if 0 < value < 100 else ""}
        amount_tier = rule.threshold_kind == ThresholdKind.AMOUNT
        if rule.benefit_kind == BenefitKind.AMOUNT_OFF:
            text = _("≥%(threshold)s -%(amount)s") if amount_tier else _("≥%(pieces)s pieces -%(amount)s")
        else:
            text = _("≥%(threshold)s -%(percent)s%%") if amount_tier else _("≥%(pieces)s pieces -%(percent)s%%")
        parts.append(text % words)
    return " / ".join(parts)


def flash_sales(scope: Scope) -> QuerySet[FlashSale]:
    items = FlashSaleItem.objects.select_related("sku", "sku__product").order_by("id")
    return FlashSale.objects.filter(enterprise_id=scope.enterprise_id).prefetch_related(Prefetch("items", items))


def get_flash_sale(scope: Scope, flash_sale_id: int) -> FlashSale:
    found = flash_sales(scope).filter(id=flash_sale_id).first()
    if found is None:
        raise NotFound(
            _("flash sale %(flash_sale_id)s not found") % {"flash_sale_id": flash_sale_id},
            field="flash_sale_id",
        )
    return found


def active_flash_items(*, enterprise_id: int, now: datetime | None = None) -> list[FlashSaleItem]:
    """Flash-sale items running now (the storefront's 秒杀 page); `flash_stock - sold` is what is left."""
    moment = now or timezone.now()
    return list(
        FlashSaleItem.objects.filter(
            flash_sale__enterprise_id=enterprise_id, flash_sale__is_active=True, flash_sale__starts_at__lte=moment,
            flash_sale__ends_at__gt=moment, sku__product__status=ProductStatus.ON_SALE,
        ).select_related("flash_sale", "sku", "sku__product").order_by("flash_sale__ends_at", "id")
    )


def group_buys(scope: Scope) -> QuerySet[GroupBuy]:
    return GroupBuy.objects.filter(enterprise_id=scope.enterprise_id).select_related("sku", "sku__product")


def get_group_buy(scope: Scope, group_buy_id: int) -> GroupBuy:
    found = group_buys(scope).filter(id=group_buy_id).first()
    if found is None:
        raise NotFound(_("group buy %(group_buy_id)s not found") % {"group_buy_id": group_buy_id}, field="group_buy_id")
    return found


def open_teams(*, enterprise_id: int, group_buy_id: int, now: datetime | None = None) -> list[GroupBuyTeam]:
    """Teams a customer can still join (the storefront lists them under a group-buy product)."""
    moment = now or timezone.now()
    return list(GroupBuyTeam.objects.filter(
        group_buy_id=group_buy_id, group_buy__enterprise_id=enterprise_id, status=TeamStatus.OPEN,
        expires_at__gt=moment,
    ).select_related("leader").order_by("expires_at"))


def team_of_order(*, enterprise_id: int, order_id: int) -> GroupBuyTeam | None:
    """The team a paid group-buy order sits in (None: not a group-buy order, or not paid yet)."""
    return GroupBuyTeam.objects.filter(
        group_buy__enterprise_id=enterprise_id, members__order_id=order_id
    ).select_related("group_buy").first()


def team_status_label(status: str) -> str:
    """A team's state in the team's own words (拼团中 / 已成团 / 拼团失败)."""
    return str(TeamStatus(status).label) if status in TeamStatus.values else status


def _running_group_buys(enterprise_id: int, now: datetime | None) -> QuerySet[GroupBuy]:
    moment = now or timezone.now()
    return GroupBuy.objects.filter(
        enterprise_id=enterprise_id, is_active=True, starts_at__lte=moment, ends_at__gt=moment,
        sku__is_active=True, sku__product__status=ProductStatus.ON_SALE,
    ).select_related("sku", "sku__product")


def running_group_buys(*, enterprise_id: int, now: datetime | None = None) -> list[GroupBuy]:
    """Group buys a shopper can open or join a team of now (the storefront's 拼团 page)."""
    return list(_running_group_buys(enterprise_id, now).order_by("ends_at", "id"))


def running_group_buy(*, enterprise_id: int, group_buy_id: int, now: datetime | None = None) -> GroupBuy:
    found = _running_group_buys(enterprise_id, now).filter(pk=group_buy_id).first()
    if found is None:
        raise NotFound(_("group buy %(group_buy_id)s not found")
            % {"group_buy_id": group_buy_id}, field="group_buy_id", code="unknown_group_buy")
    return found


def teams(scope: Scope, group_buy_id: int) -> QuerySet[GroupBuyTeam]:
    return GroupBuyTeam.objects.filter(group_buy_id=group_buy_id, group_buy__enterprise_id=scope.enterprise_id)


def shipping_rule(*, enterprise_id: int) -> ShippingRule:
    """The enterprise's rule, or the settings' (SIYU_FREE_SHIPPING_OVER_FEN, SIYU_SHIPPING_FEE_FEN), or the
    engine's defaults (free over ¥99, else ¥10)."""
    policy = ShippingPolicy.objects.filter(enterprise_id=enterprise_id).values_list("free_over_fen", "fee_fen").first()
    return _shipping(policy)


def _shipping(policy: tuple[int | None, int] | None) -> ShippingRule:
    if policy is not None:
        return ShippingRule(free_over_fen=policy[0], fee_fen=policy[1])
    return ShippingRule(
        free_over_fen=getattr(settings, "SIYU_FREE_SHIPPING_OVER_FEN", pricing.DEFAULT_FREE_SHIPPING_OVER_FEN),
        fee_fen=getattr(settings, "SIYU_SHIPPING_FEE_FEN", pricing.DEFAULT_SHIPPING_FEE_FEN),
    )


# ---------------------------------------------------------------------------------------------------------------
# The pricing loader


def _ids(values: Iterable[object]) -> set[int]:
    """Well-formed ids only: a malformed one stays out of the query and the engine reports it as unknown."""
    return {v for v in values if isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**63}


def _sku_rows(enterprise_id: int, sku_ids: set[int]) -> list[tuple[Any, ...]]:
    """The SKUs with the product and category columns the engine reads, in raw SQL: every preview and checkout runs
    this, and the ORM takes longer to build this three-table query than the database takes to answer it."""
    qn = connection.ops.quote_name
    sku, product, category = (qn(model._meta.db_table) for model in (Sku, Product, Category))
    ids = sorted(sku_ids)
    sql = (
        "SELECT s.id, s.product_id, p.category_id, c.parent_id, p.name, s.specs, s.price_fen, s.member_price_fen, "  # noqa: S608
        "s.stock, s.is_active, p.status, p.all_stores, p.currency "
        f"FROM {sku} s JOIN {product} p ON p.id = s.product_id JOIN {category} c ON c.id = p.category_id "
        f"WHERE s.enterprise_id = %s AND s.id IN ({', '.join(['%s'] * len(ids))})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [enterprise_id, *ids])
        return list(cursor.fetchall())


def _load_skus(enterprise_id: int, sku_ids: set[int]) -> dict[int, SkuInfo]:
    """One query for the SKUs, plus one for the stores of products not sold everywhere when there are such."""
    if not sku_ids:
        return {}
    rows = _sku_rows(enterprise_id, sku_ids)
    limited = {row[1] for row in rows if not row[11]}
    stores: dict[int, set[int]] = {pid: set() for pid in limited}
    if limited:
        for product_id, store_id in ProductStore.objects.filter(product_id__in=limited).values_list(
                "product_id", "store_id"):
            stores[product_id].add(store_id)
    out = {}
    for (sku_id, product_id, category_id, parent_id, product_name, raw_specs, price, member_price, stock, is_active,
         status, _all_stores, currency) in rows:
        specs = json.loads(raw_specs) if isinstance(raw_specs, str) else raw_specs  # PostgreSQL and SQLite: text
        out[sku_id] = SkuInfo(
            sku_id=sku_id, product_id=product_id, category_id=category_id, parent_category_id=parent_id,
            name=f"{product_name} {' '.join(str(v) for v in (specs or {}).values())}".strip(), price_fen=price,
            member_price_fen=member_price, stock=stock, on_sale=bool(is_active) and status == ProductStatus.ON_SALE,
            store_ids=frozenset(stores[product_id]) if product_id in stores else None, currency=currency,
        )
    return out


def _load_bundles(enterprise_id: int, bundle_ids: set[int]) -> dict[int, BundleInfo]:
    if not bundle_ids:
        return {}
    items = BundleItem.objects.order_by("id")
    rows = BundleModel.objects.filter(enterprise_id=enterprise_id, id__in=bundle_ids).prefetch_related(
        Prefetch("items", items))
    return {
        b.pk: BundleInfo(bundle_id=b.pk, name=b.name, price_fen=b.price_fen, on_sale=b.status == ProductStatus.ON_SALE,
                         components=tuple((i.sku_id, i.quantity) for i in b.items.all()), currency=b.currency)
        for b in rows
    }


def _load_flash(enterprise_id: int, item_ids: set[int], customer_id: int | None) -> dict[int, FlashOffer]:
    if not item_ids:
        return {}
    items = list(FlashSaleItem.objects.filter(
        id__in=item_ids, flash_sale__enterprise_id=enterprise_id, flash_sale__is_active=True
    ).select_related("flash_sale"))
    bought: dict[int, int] = {}
    if customer_id is not None and items:
        bought = dict(FlashPurchase.objects.filter(item_id__in=[i.pk for i in items], customer_id=customer_id)
                      .values_list("item_id", "quantity"))
    return {
        i.pk: FlashOffer(item_id=i.pk, flash_sale_id=i.flash_sale_id, name=i.flash_sale.name, sku_id=i.sku_id,
                         price_fen=i.flash_price_fen, remaining=i.flash_stock - i.sold,
                         per_customer_limit=i.per_customer_limit, bought=bought.get(i.pk, 0),
                         starts_at=i.flash_sale.starts_at, ends_at=i.flash_sale.ends_at)
        for i in items
    }


def _load_groups(enterprise_id: int, group_ids: set[int]) -> dict[int, GroupOffer]:
    if not group_ids:
        return {}
    rows = GroupBuy.objects.filter(enterprise_id=enterprise_id, id__in=group_ids, is_active=True)
    return {
        g.pk: GroupOffer(group_buy_id=g.pk, name=g.name, sku_id=g.sku_id, price_fen=g.group_price_fen,
                         group_size=g.group_size, starts_at=g.starts_at, ends_at=g.ends_at)
        for g in rows
    }


def _targets(model: type[CouponTemplate] | type[FullReduction], ids: list[int]) -> dict[int, TargetScope]:
    """The product and category sets of scoped rules, read from the M2M tables in two queries."""
    products: dict[int, set[int]] = {i: set() for i in ids}
    categories: dict[int, set[int]] = {i: set() for i in ids}
    if ids:
        owner = "coupontemplate_id" if model is CouponTemplate else "fullreduction_id"
        for owner_id, product_id in model.products.through.objects.filter(**{f"{owner}__in": ids}).values_list(
                owner, "product_id"):
            products[owner_id].add(product_id)
        for owner_id, category_id in model.categories.through.objects.filter(**{f"{owner}__in": ids}).values_list(
                owner, "category_id"):
            categories[owner_id].add(category_id)
    return {i: TargetScope(kind="", product_ids=frozenset(products[i]), category_ids=frozenset(categories[i]))
            for i in ids}


_REDUCTION_COLUMNS = ("id", "name", "threshold_kind", "benefit_kind", "tiers", "scope", "starts_at", "ends_at")


def _running_promotions(enterprise_id: int, now: datetime) -> tuple[tuple[ReductionRule, ...], ShippingRule]:
    """The full-reductions running now and the shipping rule, in ONE raw query (every preview and checkout runs it):
    the enterprise's shipping policy row, if any, LEFT JOINed with its running rules, so there is always one row.
    Values go through the fields' own converters, as the ORM would."""
    qn = connection.ops.quote_name
    policies, rules = qn(ShippingPolicy._meta.db_table), qn(FullReduction._meta.db_table)
    sql = (
        f"SELECT sp.id, sp.free_over_fen, sp.fee_fen, {', '.join(f'r.{qn(c)}' for c in _REDUCTION_COLUMNS)} "  # noqa: S608
        f"FROM (SELECT CAST(%s AS bigint) AS enterprise_id) e "
        f"LEFT JOIN {policies} sp ON sp.enterprise_id = e.enterprise_id "
        f"LEFT JOIN {rules} r ON r.enterprise_id = e.enterprise_id AND r.is_active AND r.starts_at <= %s "
        f"AND r.ends_at > %s ORDER BY r.id"
    )
    moment = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.execute(sql, [enterprise_id, moment, moment])
        rows = cursor.fetchall()
    shipping = _shipping((rows[0][1], rows[0][2]) if rows[0][0] is not None else None)
    convert = _converters(FullReduction, _REDUCTION_COLUMNS, connection.alias)
    found = [convert(row[3:]) for row in rows if row[3] is not None]
    scoped = _targets(FullReduction, [row[0] for row in found if row[5] != PromotionScope.ALL])
    reductions = tuple(
        ReductionRule(rule_id=rule_id, name=name, threshold_kind=threshold_kind, benefit_kind=benefit_kind,
                      tiers=tuple((int(t), int(v)) for t, v in tiers),
                      scope=replace(scoped.get(rule_id, TargetScope()), kind=scope), starts_at=starts_at,
                      ends_at=ends_at)
        for rule_id, name, threshold_kind, benefit_kind, tiers, scope, starts_at, ends_at in found
    )
    return reductions, shipping


def _field(model: type[Model], name: str) -> Field[Any, Any]:
    found = model._meta.get_field(name)
    assert isinstance(found, Field)
    return found


@functools.cache
def _converters(model: type[Model], names: tuple[str, ...], alias: str) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """What the ORM does to the values of these columns after a read (JSON text to objects, SQLite's timestamps to
    aware datetimes, ...), for rows read with raw SQL."""
    db = connections[alias]
    steps = []
    for name in names:
        model_field = _field(model, name)
        column = model_field.get_col(model._meta.db_table)
        steps.append((column, db.ops.get_db_converters(column) + model_field.get_db_converters(db)))

    def convert(row: Sequence[Any]) -> tuple[Any, ...]:
        out = []
        for value, (column, functions) in zip(row, steps, strict=True):
            for function in functions:
                value = function(value, column, db)
            out.append(value)
        return tuple(out)

    return convert


_COUPON_COLUMNS = ("id", "customer_id", "status", "valid_from", "valid_until", "template_id")
_TEMPLATE_COLUMNS = ("name", "kind", "amount_off_fen", "percent_off", "max_off_fen", "threshold_fen", "scope",
                     "currency")


def _load_coupon(enterprise_id: int, coupon_id: int) -> CouponInfo:
    """The coupon with its template's terms, in raw SQL (the ORM builds this join slower than it runs)."""
    qn = connection.ops.quote_name
    coupons, templates = qn(Coupon._meta.db_table), qn(CouponTemplate._meta.db_table)
    sql = (
        f"SELECT {', '.join(f'c.{qn(col)}' for col in _COUPON_COLUMNS)}, "  # noqa: S608 - names from the models
        f"{', '.join(f't.{qn(col)}' for col in _TEMPLATE_COLUMNS)} "
        f"FROM {coupons} c JOIN {templates} t ON t.id = c.template_id WHERE c.id = %s AND c.enterprise_id = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [coupon_id, enterprise_id])
        row = cursor.fetchone()
    if row is None:
        raise NotFound(
            _("coupon %(coupon_id)s not found") % {"coupon_id": coupon_id},
            field="coupon_id", code="coupon_not_found",
        )
    pk, customer_id, status, valid_from, valid_until, template_id = _converters(
        Coupon, ("id", "customer", "status", "valid_from", "valid_until", "template"), connection.alias)(row[:6])
    name, kind, amount_off, percent_off, max_off, threshold, scope, currency = row[6:]
    target = _targets(CouponTemplate, [template_id])[template_id] if scope != PromotionScope.ALL else TargetScope()
    return CouponInfo(
        coupon_id=pk, template_id=template_id, name=name, kind=kind, amount_off_fen=amount_off,
        percent_off=percent_off, max_off_fen=max_off, threshold_fen=threshold, scope=replace(target, kind=scope),
        customer_id=customer_id, status=status, valid_from=valid_from, valid_until=valid_until, currency=currency,
    )


def load_pricing_input(
    *, enterprise_id: int, lines: Sequence[CartLine], customer_id: int | None = None, coupon_id: int | None = None,
    is_member: bool = False, store_id: int | None = None, fulfillment: str = pricing.FULFILLMENT_DELIVERY,
    now: datetime | None = None,
) -> PricingInput:
    """Gather everything `pricing.price` needs for these lines, in at most ten queries whatever the cart size (two
    for a cart of plain SKUs): the SKUs (with bundle components), bundles, flash offers with the customer's
    counters, group buys, the full-reductions running now with the shipping rule, and the coupon. `is_member` is
    the caller's word for now (loyalty will own it)."""
    if fulfillment not in (pricing.FULFILLMENT_DELIVERY, pricing.FULFILLMENT_PICKUP):
        raise ValidationFailed(_("fulfillment is delivery or pickup"), field="fulfillment", code="unknown_fulfillment")
    moment = now or timezone.now()
    bundles = _load_bundles(enterprise_id, _ids(line.bundle_id for line in lines))
    sku_ids = _ids(line.sku_id for line in lines) | {s for b in bundles.values() for s, _ignored in b.components}
    reductions, shipping = _running_promotions(enterprise_id, moment)
    return PricingInput(
        lines=tuple(lines), now=moment, skus=MappingProxyType(_load_skus(enterprise_id, sku_ids)),
        bundles=MappingProxyType(bundles),
        flash_offers=MappingProxyType(_load_flash(enterprise_id, _ids(x.flash_item_id for x in lines), customer_id)),
        group_offers=MappingProxyType(_load_groups(enterprise_id, _ids(x.group_buy_id for x in lines))),
        reductions=reductions,
        coupon=_load_coupon(enterprise_id, coupon_id) if coupon_id is not None else None,
        customer_id=customer_id, is_member=is_member, store_id=store_id, fulfillment=fulfillment,
        shipping=shipping, currency=settings.SIYU_CURRENCY,
    )


def quote(
    *, enterprise_id: int, lines: Sequence[CartLine], customer_id: int | None = None, coupon_id: int | None = None,
    is_member: bool = False, store_id: int | None = None, fulfillment: str = pricing.FULFILLMENT_DELIVERY,
    now: datetime | None = None,
) -> PricingBreakdown:
    """Load and price in one call: what checkout preview and order placement both use."""
    cart = load_pricing_input(enterprise_id=enterprise_id, lines=lines, customer_id=customer_id, coupon_id=coupon_id,
                              is_member=is_member, store_id=store_id, fulfillment=fulfillment, now=now)
    return pricing.price(cart)


@dataclass(frozen=True)
class CouponOption:
    coupon: Coupon
    discount: Money | None  # what it takes off this cart, None when it does not apply
    reason: str  # the error code when it does not apply


def coupon_options(
    *, enterprise_id: int, lines: Sequence[CartLine], customer_id: int, is_member: bool = False,
    store_id: int | None = None, now: datetime | None = None,
) -> list[CouponOption]:
    """The customer's usable coupons, each priced against this cart (the checkout's coupon picker), best first."""
    moment = now or timezone.now()
    cart = load_pricing_input(enterprise_id=enterprise_id, lines=lines, customer_id=customer_id, is_member=is_member,
                              store_id=store_id, now=moment)
    options = []
    for coupon in customer_coupons(enterprise_id=enterprise_id, customer_id=customer_id, usable_at=moment):
        try:
            result = pricing.price(replace(cart, coupon=_load_coupon(enterprise_id, coupon.pk)))
            options.append(CouponOption(coupon=coupon, discount=result.coupon_discount, reason=""))
        except DomainError as exc:
            options.append(CouponOption(coupon=coupon, discount=None, reason=exc.code))
    options.sort(key=lambda o: -(o.discount.fen if o.discount is not None else -1))
    return options
