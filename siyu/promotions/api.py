"""Promotions API (/api/promotions): coupon templates, issuing coupons, full-reductions, flash sales, group buys,
the shipping policy, and the pricing preview (`POST /price`) the storefront and checkout use.

Amounts are integer fen. Configuration writes need HQ; issuing a coupon needs the customer to be visible to the
caller. Bad input comes back as 4xx with a code and the failing field; nothing is written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from siyu.api.auth import actor_of, scope_of
from siyu.core.money import Money
from siyu.customers import queries as customer_queries
from siyu.promotions import queries, services
from siyu.promotions.pricing import CartLine
from siyu.promotions.schemas import BreakdownLineFields, BreakdownPromotionFields, BreakdownTotalsFields

router = Router()
CUR = settings.SIYU_CURRENCY


class Input(Schema):
    model_config = ConfigDict(extra="forbid")


def _money(fen: int | None, currency: str = CUR) -> Money | None:
    return Money(fen, currency) if fen is not None else None


# ---------------------------------------------------------------------------------------------------------------
# Coupon templates and coupons


class CouponTemplateIn(Input):
    name: str = Field(max_length=200)
    kind: str = Field(description="fixed / percent / threshold")
    amount_off_fen: int | None = None
    percent_off: int = Field(0, description="15 means 15% off")
    max_off_fen: int | None = None
    threshold_fen: int | None = None
    scope: str = "all"
    product_ids: list[int] = []
    category_ids: list[int] = []
    validity_kind: str = "relative"
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    valid_days: int | None = None
    per_customer_limit: int = 1
    total_stock: int | None = None
    claimable: bool = False
    is_active: bool = True
    description: str = Field("", max_length=255)


class CouponTemplateOut(Schema):
    id: int
    name: str
    kind: str
    value: str
    amount_off_fen: int
    percent_off: int
    max_off_fen: int | None
    threshold_fen: int
    currency: str
    scope: str
    product_ids: list[int]
    category_ids: list[int]
    validity_kind: str
    valid_from: datetime | None
    valid_until: datetime | None
    valid_days: int | None
    per_customer_limit: int
    total_stock: int | None
    issued_count: int
    claimable: bool
    is_active: bool


class IssueIn(Input):
    customer_id: int
    idempotency_key: str = Field(min_length=1, max_length=128)


class CouponOut(Schema):
    id: int
    code: str
    template_id: int
    name: str
    customer_id: int
    status: str
    source: str
    valid_from: datetime
    valid_until: datetime
    order_id: int | None


class CouponQuery(Input):
    customer_id: int | None = None
    template_id: int | None = None
    status: str = ""
    page: int = Field(1, ge=1)
    page_size: int = Field(20, ge=1, le=200)


class CouponPage(Schema):
    items: list[CouponOut]
    total: int
    page: int
    page_size: int


def _template_out(t: Any) -> dict[str, Any]:
    return {
        "id": t.pk, "name": t.name, "kind": t.kind, "value": queries.template_value(t),
        "amount_off_fen": t.amount_off_fen, "percent_off": t.percent_off, "max_off_fen": t.max_off_fen,
        "threshold_fen": t.threshold_fen, "currency": t.currency, "scope": t.scope,
        "product_ids": [p.pk for p in t.products.all()], "category_ids": [c.pk for c in t.categories.all()],
        "validity_kind": t.validity_kind, "valid_from": t.valid_from, "valid_until": t.valid_until,
        "valid_days": t.valid_days, "per_customer_limit": t.per_customer_limit, "total_stock": t.total_stock,
        "issued_count": t.issued_count, "claimable": t.claimable, "is_active": t.is_active,
    }


def _template_input(p: CouponTemplateIn) -> services.CouponTemplateInput:
    return services.CouponTemplateInput(
        name=p.name, kind=p.kind, amount_off=_money(p.amount_off_fen), percent_off=p.percent_off,
        max_off=_money(p.max_off_fen), threshold=_money(p.threshold_fen), scope=p.scope, product_ids=p.product_ids,
        category_ids=p.category_ids, validity_kind=p.validity_kind, valid_from=p.valid_from,
        valid_until=p.valid_until, valid_days=p.valid_days, per_customer_limit=p.per_customer_limit,
        total_stock=p.total_stock, claimable=p.claimable, is_active=p.is_active, description=p.description,
    )


def _coupon_out(c: Any) -> dict[str, Any]:
    return {"id": c.pk, "code": c.code, "template_id": c.template_id, "name": c.template.name,
            "customer_id": c.customer_id, "status": c.status, "source": c.source, "valid_from": c.valid_from,
            "valid_until": c.valid_until, "order_id": c.order_id}


@router.get("/coupon-templates", response=list[CouponTemplateOut], summary="Coupon templates")
def list_templates(request: HttpRequest) -> list[dict[str, Any]]:
    return [_template_out(t) for t in queries.coupon_templates(scope_of(request))]


@router.post("/coupon-templates", response={201: CouponTemplateOut}, summary="Create a coupon template")
def create_template(request: HttpRequest, payload: CouponTemplateIn) -> Status[dict[str, Any]]:
    scope = scope_of(request)
    t = services.create_coupon_template(scope=scope, data=_template_input(payload), actor=actor_of(request))
    return Status(201, _template_out(queries.get_coupon_template(scope, t.pk)))


@router.get("/coupon-templates/{template_id}", response=CouponTemplateOut, summary="One coupon template")
def get_template(request: HttpRequest, template_id: int) -> dict[str, Any]:
    return _template_out(queries.get_coupon_template(scope_of(request), template_id))


@router.put("/coupon-templates/{template_id}", response=CouponTemplateOut, summary="Change a coupon template")
def update_template(request: HttpRequest, template_id: int, payload: CouponTemplateIn) -> dict[str, Any]:
    scope = scope_of(request)
    services.update_coupon_template(scope=scope, template_id=template_id, data=_template_input(payload),
                                    actor=actor_of(request))
    return _template_out(queries.get_coupon_template(scope, template_id))


@router.post("/coupon-templates/{template_id}/issue", response=CouponOut,
             summary="Issue a coupon to a customer (idempotent: the same key returns the same coupon)")
def issue(request: HttpRequest, template_id: int, payload: IssueIn) -> dict[str, Any]:
    scope = scope_of(request)
    customer_queries.get_customer(scope, payload.customer_id)  # the caller must see the customer
    coupon = services.issue_coupon(enterprise_id=scope.enterprise_id, template_id=template_id,
                                   customer_id=payload.customer_id, idempotency_key=payload.idempotency_key,
                                   actor=actor_of(request))
    return _coupon_out(queries.get_coupon(scope, coupon.pk))


@router.get("/coupons", response=CouponPage, summary="Coupons of the customers you may see")
def list_coupons(request: HttpRequest, params: Query[CouponQuery]) -> dict[str, Any]:
    page = queries.search_coupons(scope_of(request), template_id=params.template_id, customer_id=params.customer_id,
                                  status=params.status, page=params.page, page_size=params.page_size)
    return {"items": [_coupon_out(c) for c in page.items], "total": page.total, "page": page.page,
            "page_size": page.page_size}


# ---------------------------------------------------------------------------------------------------------------
# Full-reductions


class FullReductionIn(Input):
    name: str = Field(max_length=200)
    tiers: list[tuple[int, int]] = Field(description="[[threshold, value], ...]: fen or pieces; fen or percent off")
    threshold_kind: str = "amount"
    benefit_kind: str = "amount"
    scope: str = "all"
    product_ids: list[int] = []
    category_ids: list[int] = []
    starts_at: datetime
    ends_at: datetime
    is_active: bool = True


class FullReductionOut(Schema):
    id: int
    name: str
    tiers: list[tuple[int, int]]
    description: str
    threshold_kind: str
    benefit_kind: str
    scope: str
    product_ids: list[int]
    category_ids: list[int]
    starts_at: datetime
    ends_at: datetime
    is_active: bool


def _reduction_out(r: Any) -> dict[str, Any]:
    return {"id": r.pk, "name": r.name, "tiers": [tuple(t) for t in r.tiers], "description": queries.tiers_text(r),
            "threshold_kind": r.threshold_kind, "benefit_kind": r.benefit_kind, "scope": r.scope,
            "product_ids": [p.pk for p in r.products.all()], "category_ids": [c.pk for c in r.categories.all()],
            "starts_at": r.starts_at, "ends_at": r.ends_at, "is_active": r.is_active}


def _reduction_input(p: FullReductionIn) -> services.FullReductionInput:
    return services.FullReductionInput(
        name=p.name, tiers=p.tiers, threshold_kind=p.threshold_kind, benefit_kind=p.benefit_kind, scope=p.scope,
        product_ids=p.product_ids, category_ids=p.category_ids, starts_at=p.starts_at, ends_at=p.ends_at,
        is_active=p.is_active,
    )


@router.get("/full-reductions", response=list[FullReductionOut], summary="Full-reductions (满减 / 满折)")
def list_reductions(request: HttpRequest) -> list[dict[str, Any]]:
    return [_reduction_out(r) for r in queries.full_reductions(scope_of(request))]


@router.post("/full-reductions", response={201: FullReductionOut}, summary="Create a full-reduction")
def create_reduction(request: HttpRequest, payload: FullReductionIn) -> Status[dict[str, Any]]:
    scope = scope_of(request)
    r = services.create_full_reduction(scope=scope, data=_reduction_input(payload), actor=actor_of(request))
    return Status(201, _reduction_out(queries.get_full_reduction(scope, r.pk)))


@router.put("/full-reductions/{reduction_id}", response=FullReductionOut, summary="Change a full-reduction")
def update_reduction(request: HttpRequest, reduction_id: int, payload: FullReductionIn) -> dict[str, Any]:
    scope = scope_of(request)
    services.update_full_reduction(scope=scope, reduction_id=reduction_id, data=_reduction_input(payload),
                                   actor=actor_of(request))
    return _reduction_out(queries.get_full_reduction(scope, reduction_id))


# ---------------------------------------------------------------------------------------------------------------
# Flash sales and group buys


class FlashItemIn(Input):
    sku_id: int
    flash_price_fen: int
    flash_stock: int
    per_customer_limit: int = 1


class FlashSaleIn(Input):
    name: str = Field(max_length=200)
    starts_at: datetime
    ends_at: datetime
    is_active: bool = True
    allow_oversell: bool = Field(default=False, description="flash stock above the SKU's stock (refused otherwise "
                                                           "with flash_stock_too_high)")
    items: list[FlashItemIn]


class FlashItemOut(Schema):
    id: int
    sku_id: int
    name: str
    price_fen: int
    flash_price_fen: int
    flash_stock: int
    sold: int
    per_customer_limit: int


class FlashSaleOut(Schema):
    id: int
    name: str
    starts_at: datetime
    ends_at: datetime
    is_active: bool
    allow_oversell: bool
    items: list[FlashItemOut]


def _flash_out(sale: Any) -> dict[str, Any]:
    items = [
        {"id": i.pk, "sku_id": i.sku_id, "name": f"{i.sku.product.name} {' '.join(i.sku.specs.values())}".strip(),
         "price_fen": i.sku.price_fen, "flash_price_fen": i.flash_price_fen, "flash_stock": i.flash_stock,
         "sold": i.sold, "per_customer_limit": i.per_customer_limit}
        for i in sale.items.all()
    ]
    return {"id": sale.pk, "name": sale.name, "starts_at": sale.starts_at, "ends_at": sale.ends_at,
            "is_active": sale.is_active, "allow_oversell": sale.allow_oversell, "items": items}


def _flash_input(p: FlashSaleIn) -> services.FlashSaleInput:
    return services.FlashSaleInput(
        name=p.name, starts_at=p.starts_at, ends_at=p.ends_at, is_active=p.is_active,
        allow_oversell=p.allow_oversell,
        items=[services.FlashItemInput(sku_id=i.sku_id, flash_price=Money(i.flash_price_fen, CUR),
                                       flash_stock=i.flash_stock, per_customer_limit=i.per_customer_limit)
               for i in p.items],
    )


@router.get("/flash-sales", response=list[FlashSaleOut], summary="Flash sales (秒杀)")
def list_flash_sales(request: HttpRequest) -> list[dict[str, Any]]:
    return [_flash_out(s) for s in queries.flash_sales(scope_of(request))]


@router.post("/flash-sales", response={201: FlashSaleOut}, summary="Create a flash sale")
def create_flash_sale(request: HttpRequest, payload: FlashSaleIn) -> Status[dict[str, Any]]:
    scope = scope_of(request)
    sale = services.create_flash_sale(scope=scope, data=_flash_input(payload), actor=actor_of(request))
    return Status(201, _flash_out(queries.get_flash_sale(scope, sale.pk)))


@router.get("/flash-sales/{flash_sale_id}", response=FlashSaleOut, summary="One flash sale")
def get_flash_sale(request: HttpRequest, flash_sale_id: int) -> dict[str, Any]:
    return _flash_out(queries.get_flash_sale(scope_of(request), flash_sale_id))


@router.put("/flash-sales/{flash_sale_id}", response=FlashSaleOut, summary="Change a flash sale")
def update_flash_sale(request: HttpRequest, flash_sale_id: int, payload: FlashSaleIn) -> dict[str, Any]:
    scope = scope_of(request)
    services.update_flash_sale(scope=scope, flash_sale_id=flash_sale_id, data=_flash_input(payload),
                               actor=actor_of(request))
    return _flash_out(queries.get_flash_sale(scope, flash_sale_id))


class GroupBuyIn(Input):
    name: str = Field(max_length=200)
    sku_id: int
    group_price_fen: int
    group_size: int = 2
    hours: int = 24
    starts_at: datetime
    ends_at: datetime
    is_active: bool = True


class GroupBuyOut(Schema):
    id: int
    name: str
    sku_id: int
    group_price_fen: int
    group_size: int
    hours: int
    starts_at: datetime
    ends_at: datetime
    is_active: bool


def _group_out(g: Any) -> dict[str, Any]:
    return {"id": g.pk, "name": g.name, "sku_id": g.sku_id, "group_price_fen": g.group_price_fen,
            "group_size": g.group_size, "hours": g.hours, "starts_at": g.starts_at, "ends_at": g.ends_at,
            "is_active": g.is_active}


def _group_input(p: GroupBuyIn) -> services.GroupBuyInput:
    return services.GroupBuyInput(name=p.name, sku_id=p.sku_id, group_price=Money(p.group_price_fen, CUR),
                                  group_size=p.group_size, hours=p.hours, starts_at=p.starts_at, ends_at=p.ends_at,
                                  is_active=p.is_active)


@router.get("/group-buys", response=list[GroupBuyOut], summary="Group buys (拼团)")
def list_group_buys(request: HttpRequest) -> list[dict[str, Any]]:
    return [_group_out(g) for g in queries.group_buys(scope_of(request))]


@router.post("/group-buys", response={201: GroupBuyOut}, summary="Create a group buy")
def create_group_buy(request: HttpRequest, payload: GroupBuyIn) -> Status[dict[str, Any]]:
    g = services.create_group_buy(scope=scope_of(request), data=_group_input(payload), actor=actor_of(request))
    return Status(201, _group_out(g))


@router.put("/group-buys/{group_buy_id}", response=GroupBuyOut, summary="Change a group buy")
def update_group_buy(request: HttpRequest, group_buy_id: int, payload: GroupBuyIn) -> dict[str, Any]:
    g = services.update_group_buy(scope=scope_of(request), group_buy_id=group_buy_id, data=_group_input(payload),
                                  actor=actor_of(request))
    return _group_out(g)


class ShippingIn(Input):
    free_over_fen: int | None = Field(description="free shipping from this goods amount; null: never free")
    fee_fen: int


class ShippingOut(Schema):
    free_over_fen: int | None
    fee_fen: int


@router.get("/shipping", response=ShippingOut, summary="The shipping rule checkout applies")
def get_shipping(request: HttpRequest) -> dict[str, Any]:
    rule = queries.shipping_rule(enterprise_id=scope_of(request).enterprise_id)
    return {"free_over_fen": rule.free_over_fen, "fee_fen": rule.fee_fen}


@router.put("/shipping", response=ShippingOut, summary="Set the shipping rule")
def set_shipping(request: HttpRequest, payload: ShippingIn) -> dict[str, Any]:
    policy = services.set_shipping_policy(scope=scope_of(request), free_over=_money(payload.free_over_fen),
                                          fee=Money(payload.fee_fen, CUR), actor=actor_of(request))
    return {"free_over_fen": policy.free_over_fen, "fee_fen": policy.fee_fen}


# ---------------------------------------------------------------------------------------------------------------
# Pricing preview


class PriceLineIn(Input):
    sku_id: int | None = None
    bundle_id: int | None = None
    quantity: int
    flash_item_id: int | None = None
    group_buy_id: int | None = None


class PriceIn(Input):
    lines: list[PriceLineIn] = Field(max_length=100)
    customer_id: int | None = None
    coupon_id: int | None = None
    is_member: bool = False
    store_id: int | None = None
    fulfillment: str = "delivery"


class PricedLineOut(BreakdownLineFields):
    components: list[list[int]]


class PromotionOut(BreakdownPromotionFields):
    line_indexes: list[int]


class BreakdownOut(BreakdownTotalsFields):
    lines: list[PricedLineOut]
    promotions: list[PromotionOut]


@router.post("/price", response=BreakdownOut,
             summary="Price a cart: line prices, member price, promotions, coupon, shipping (the checkout breakdown)")
def price_preview(request: HttpRequest, payload: PriceIn) -> dict[str, Any]:
    scope = scope_of(request)
    if payload.customer_id is not None:
        customer_queries.get_customer(scope, payload.customer_id)
    lines = [CartLine(quantity=x.quantity, sku_id=x.sku_id, bundle_id=x.bundle_id, flash_item_id=x.flash_item_id,
                      group_buy_id=x.group_buy_id) for x in payload.lines]
    breakdown = queries.quote(enterprise_id=scope.enterprise_id, lines=lines, customer_id=payload.customer_id,
                              coupon_id=payload.coupon_id, is_member=payload.is_member, store_id=payload.store_id,
                              fulfillment=payload.fulfillment)
    return breakdown.as_dict()
