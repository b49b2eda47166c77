"""Every change to promotions goes through these functions: coupon templates and coupons, full-reductions, flash
sales, group buys and the shipping policy.

Configuring promotions is an HQ job (`scope`); the coupon, flash-sale and group-buy moves made for a customer
(issue, claim, use, return, reserve_flash, join_team, ...) take the enterprise id, because the storefront, the
orders service and automation make them on the customer's behalf. Limits hold under concurrency: each is a
conditional UPDATE on a counter (`... WHERE sold + n <= flash_stock`), never a read-then-write in Python.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from random import Random
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Model, OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_

from siyu.catalog.models import Category, Product, Sku
from siyu.catalog.services import require_editor
from siyu.core import audit, jobs, leases
from siyu.core.audit import Actor
from siyu.core.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed
from siyu.core.money import Money
from siyu.core.timeutil import day_bounds, local_day
from siyu.customers import queries as customer_queries
from siyu.customers.models import Customer
from siyu.customers.services import EventInput, append_event, append_events, ingest_events, record_event
from siyu.org.scope import Scope
from siyu.promotions.models import (
    BenefitKind,
    Coupon,
    CouponBatch,
    CouponBatchSource,
    CouponBatchStatus,
    CouponBatchTarget,
    CouponKind,
    CouponQuota,
    CouponSource,
    CouponStatus,
    CouponTemplate,
    FlashPurchase,
    FlashSale,
    FlashSaleItem,
    FullReduction,
    GroupBuy,
    GroupBuyMember,
    GroupBuyTeam,
    PromotionScope,
    ShippingPolicy,
    TeamStatus,
    ThresholdKind,
    ValidityKind,
)
from siyu.promotions.pricing import CouponInfo

MAX_TIERS = 10
EXPIRE_BATCH = 5000


def _now(now: datetime | None) -> datetime:
    moment = now or timezone.now()
    if moment.tzinfo is None:
        raise ValidationFailed(_("a moment needs a timezone"), field="now", code="naive_datetime")
    return moment


def _event_time(now: datetime) -> datetime:
    """Events cannot be dated in the future (the log refuses them); a test's future `now` is logged as now."""
    return min(now, timezone.now())


def _customer(enterprise_id: int, customer_id: int) -> Customer:
    return customer_queries.get_customer(Scope.hq(enterprise_id, label="promotions"), customer_id)


def _clean_name(name: str, limit: int = 64) -> str:
    clean = (name or "").strip()
    if not clean:
        raise ValidationFailed(_("name is required"), field="name", code="required")
    if len(clean) > limit:
        raise ValidationFailed(
            _("name is at most %(limit)s characters") % {"limit": limit},
            field="name", code="too_long",
        )
    return clean


def _clean_window(starts_at: datetime | None, ends_at: datetime | None, *, start: str, end: str) -> None:
    if starts_at is None:
        raise ValidationFailed(_("a start time is required"), field=start, code="required")
    if ends_at is None:
        raise ValidationFailed(_("an end time is required"), field=end, code="required")
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise ValidationFailed(_("times need a timezone"), field=start, code="naive_datetime")
    if ends_at <= starts_at:
        raise ValidationFailed(_("the end comes after the start"), field=end, code="invalid_window")


def _clean_targets(
    enterprise_id: int, scope: str, product_ids: Sequence[int], category_ids: Sequence[int]
) -> tuple[list[int], list[int]]:
    if scope not in PromotionScope.values:
        raise ValidationFailed(
            _("scope must be one of %(join)s") % {"join": ', '.join(PromotionScope.values)},
            field="scope",
            code="unknown_scope",
        )
    if scope == PromotionScope.PRODUCTS:
        known = set(
            Product.objects.filter(enterprise_id=enterprise_id, id__in=product_ids).values_list("id", flat=True)
        )
        _check_known(product_ids, known, "product_ids", "product")
        return list(dict.fromkeys(product_ids)), []
    if scope == PromotionScope.CATEGORIES:
        known = set(
            Category.objects.filter(enterprise_id=enterprise_id, id__in=category_ids).values_list("id", flat=True)
        )
        _check_known(category_ids, known, "category_ids", "category")
        return [], list(dict.fromkeys(category_ids))
    return [], []


def _check_known(wanted: Sequence[int], known: set[int], field: str, label: str) -> None:
    if not wanted:
        raise ValidationFailed(_("choose at least one %(label)s") % {"label": label}, field=field, code="required")
    for index, item in enumerate(wanted):
        if item not in known:
            raise NotFound(
                _("%(label)s %(item)s not found") % {"label": label, "item": item},
                field=f"{field}[{index}]", index=index,
            )


# ---------------------------------------------------------------------------------------------------------------
# Coupon templates


@dataclass(frozen=True)
class CouponTemplateInput:
    """Amounts as Money: `amount_off` for fixed and threshold coupons, `percent_off` (15 = 15% off) and an optional
    `max_off` cap for percent coupons, `threshold` the minimum eligible spend (required for threshold coupons)."""

    name: str
    kind: str
    amount_off: Money | None = None
    percent_off: int = 0
    max_off: Money | None = None
    threshold: Money | None = None
    scope: str = PromotionScope.ALL
    product_ids: Sequence[int] = ()
    category_ids: Sequence[int] = ()
    validity_kind: str = ValidityKind.RELATIVE
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    valid_days: int | None = None
    per_customer_limit: int = 1
    total_stock: int | None = None
    claimable: bool = False
    is_active: bool = True
    description: str = ""
    currency: str = settings.SIYU_CURRENCY


def _money_fen(money: Money | None, *, field: str, currency: str, required: bool) -> int | None:
    if money is None:
        if required:
            raise ValidationFailed(_("%(field)s is required") % {"field": field}, field=field, code="required")
        return None
    if money.currency != currency:
        raise ValidationFailed(
            _("%(field)s must be in %(currency)s") % {"field": field, "currency": currency},
            field=field, code="currency_mismatch",
        )
    if money.fen < 0:
        raise ValidationFailed(_("%(field)s cannot be negative") % {"field": field}, field=field, code="negative_price")
    return money.fen


def _clean_coupon_value(data: CouponTemplateInput) -> dict[str, Any]:
    if data.kind not in CouponKind.values:
        raise ValidationFailed(_("kind must be one of %(join)s") % {"join": ', '.join(CouponKind.values)}, field="kind",
                               code="unknown_kind")
    cur = data.currency
    threshold = _money_fen(data.threshold, field="threshold", currency=cur, required=data.kind == CouponKind.THRESHOLD)
    values: dict[str, Any] = {"kind": data.kind, "threshold_fen": threshold or 0, "amount_off_fen": 0,
                              "percent_off": 0, "max_off_fen": None}
    if data.kind == CouponKind.PERCENT:
        if not isinstance(data.percent_off, int) or not 1 <= data.percent_off <= 99:
            raise ValidationFailed(_("percent off is 1-99"), field="percent_off", code="invalid_percent")
        values["percent_off"] = data.percent_off
        values["max_off_fen"] = _money_fen(data.max_off, field="max_off", currency=cur, required=False)
        return values
    amount = _money_fen(data.amount_off, field="amount_off", currency=cur, required=True)
    if not amount:
        raise ValidationFailed(_("the amount off must be above zero"), field="amount_off", code="invalid_amount")
    if data.kind == CouponKind.THRESHOLD and threshold is not None and amount >= threshold:
        raise ValidationFailed(_("the amount off must be below the threshold"), field="amount_off",
                               code="amount_above_threshold")
    values["amount_off_fen"] = amount
    return values


def _clean_validity(data: CouponTemplateInput) -> dict[str, Any]:
    if data.validity_kind == ValidityKind.FIXED:
        _clean_window(data.valid_from, data.valid_until, start="valid_from", end="valid_until")
        return {"validity_kind": data.validity_kind, "valid_from": data.valid_from, "valid_until": data.valid_until,
                "valid_days": None}
    if data.validity_kind == ValidityKind.RELATIVE:
        if not isinstance(data.valid_days, int) or not 1 <= data.valid_days <= 3650:
            raise ValidationFailed(_("valid days is 1-3650"), field="valid_days", code="required")
        return {"validity_kind": data.validity_kind, "valid_from": None, "valid_until": None,
                "valid_days": data.valid_days}
    raise ValidationFailed(
        _("validity must be one of %(join)s") % {"join": ', '.join(ValidityKind.values)},
        field="validity_kind",
        code="unknown_validity_kind",
    )


def _clean_template(enterprise_id: int, data: CouponTemplateInput) -> tuple[dict[str, Any], list[int], list[int]]:
    fields: dict[str, Any] = {"name": _clean_name(data.name), "description": (data.description or "").strip()[:255]}
    fields.update(_clean_coupon_value(data))
    fields.update(_clean_validity(data))
    if not isinstance(data.per_customer_limit, int) or not 1 <= data.per_customer_limit <= 1000:
        raise ValidationFailed(_("per-customer limit is 1-1000"), field="per_customer_limit",
                               code="per_customer_limit_range")
    if data.total_stock is not None and (not isinstance(data.total_stock, int) or data.total_stock < 1):
        raise ValidationFailed(_("total stock is empty (unlimited) or at least 1"), field="total_stock",
                               code="total_stock_range")
    products, categories = _clean_targets(enterprise_id, data.scope, data.product_ids, data.category_ids)
    fields.update(scope=data.scope, per_customer_limit=data.per_customer_limit, total_stock=data.total_stock,
                  claimable=data.claimable, is_active=data.is_active, currency=data.currency)
    return fields, products, categories


@transaction.atomic
def create_coupon_template(*, scope: Scope, data: CouponTemplateInput, actor: Actor = None) -> CouponTemplate:
    require_editor(scope)
    fields, products, categories = _clean_template(scope.enterprise_id, data)
    template = CouponTemplate.objects.create(enterprise_id=scope.enterprise_id, **fields)
    template.products.set(products)
    template.categories.set(categories)
    audit.record(enterprise_id=scope.enterprise_id,
                 actor=actor, action="coupon_template.create", target_type="coupon_template", target_id=template.pk,
                 summary=template.name)
    return template


_VALUE_FIELDS = ("kind", "amount_off_fen", "percent_off", "max_off_fen", "threshold_fen", "scope", "currency")


@transaction.atomic
def update_coupon_template(
    *, scope: Scope, template_id: int, data: CouponTemplateInput, actor: Actor = None
) -> CouponTemplate:
    """Once coupons were issued, what a coupon is worth (kind, amounts, threshold, scope) is fixed: customers hold
    them. Name, validity of future coupons, limits, stock and claimability may change."""
    require_editor(scope)
    template = CouponTemplate.objects.select_for_update().filter(id=template_id,
                                                                 enterprise_id=scope.enterprise_id).first()
    if template is None:
        raise NotFound(
            _("coupon template %(template_id)s not found") % {"template_id": template_id},
            field="template_id",
        )
    fields, products, categories = _clean_template(scope.enterprise_id, data)
    issued = template.issued_count > 0
    if issued and any(getattr(template, key) != fields[key] for key in _VALUE_FIELDS):
        raise Conflict(_("coupons of this template were issued: its value and scope cannot change"), field="kind",
                       code="template_in_use")
    if fields["total_stock"] is not None and fields["total_stock"] < template.issued_count:
        raise ValidationFailed(
            _("%(issued_count)s were issued already") % {"issued_count": template.issued_count},
            field="total_stock", code="below_issued",
        )
    for key, value in fields.items():
        setattr(template, key, value)
    template.save()
    if not issued:
        template.products.set(products)
        template.categories.set(categories)
    audit.record(enterprise_id=scope.enterprise_id,
                 actor=actor, action="coupon_template.update", target_type="coupon_template", target_id=template.pk,
                 summary=template.name)
    return template


# ---------------------------------------------------------------------------------------------------------------
# Coupons


def _validity(template: CouponTemplate, now: datetime) -> tuple[datetime, datetime]:
    """A fixed window as set; "N days" runs from issue to the end of the Nth Shanghai day (the issue day is day 1)."""
    if template.validity_kind == ValidityKind.FIXED:
        assert template.valid_from is not None and template.valid_until is not None
        return template.valid_from, template.valid_until
    days = template.valid_days or 1
    return now, day_bounds(local_day(now) + timedelta(days=days - 1))[1]


def _check_issuable(template: CouponTemplate, now: datetime) -> None:
    if not template.is_active:
        raise ValidationFailed(_("this coupon template is paused"), field="template_id", code="template_inactive")
    ended = template.valid_until is not None and template.valid_until <= now
    if template.validity_kind == ValidityKind.FIXED and ended:
        raise ValidationFailed(_("this coupon template has expired"), field="template_id", code="coupon_expired")


def _take_template_stock(template: CouponTemplate) -> None:
    qs = CouponTemplate.objects.filter(pk=template.pk)
    if template.total_stock is not None:
        qs = qs.filter(issued_count__lt=F("total_stock"))
    if qs.update(issued_count=F("issued_count") + 1) != 1:
        raise Conflict(_("all coupons of this template have been issued"), field="template_id",
                       code="coupon_sold_out")


def _take_quota(template: CouponTemplate, customer_id: int) -> None:
    CouponQuota.objects.bulk_create([CouponQuota(template=template, customer_id=customer_id, issued=0)],
                                    ignore_conflicts=True)
    taken = CouponQuota.objects.filter(
        template=template, customer_id=customer_id, issued__lt=template.per_customer_limit
    ).update(issued=F("issued") + 1)
    if taken != 1:
        raise Conflict(
            _("at most %(per_customer_limit)s per customer") % {"per_customer_limit": template.per_customer_limit},
            field="customer_id", code="coupon_limit_reached",
        )


def _same_request(coupon: Coupon, template_id: int, customer_id: int) -> Coupon:
    if coupon.template_id != template_id or coupon.customer_id != customer_id:
        raise Conflict(_("this idempotency key was used for another coupon"), field="idempotency_key",
                       code="idempotency_key_reused")
    return coupon


def _find_by_key(enterprise_id: int, key: str) -> Coupon | None:
    return Coupon.objects.filter(enterprise_id=enterprise_id, idempotency_key=key).first()


def _coupon_props(coupon: Coupon, template: CouponTemplate, **extra: Any) -> dict[str, Any]:
    return {"coupon_id": coupon.pk, "template_id": template.pk, "name": template.name, **extra}


def _insert_coupon(
    *, template: CouponTemplate, customer: Customer, key: str, source: str, now: datetime, actor: Actor
) -> Coupon:
    valid_from, valid_until = _validity(template, now)
    with transaction.atomic():
        _take_template_stock(template)
        _take_quota(template, customer.pk)
        coupon = Coupon.objects.create(
            enterprise_id=template.enterprise_id, template=template, customer=customer,
            code=secrets.token_hex(6).upper(), source=source, valid_from=valid_from, valid_until=valid_until,
            issued_at=now, idempotency_key=key,
        )
        record_event(customer=customer, name="coupon_issued", idempotency_key=f"coupon_issued:{coupon.pk}",
                     occurred_at=_event_time(now), properties=_coupon_props(coupon, template, source=source))
        audit.record(enterprise_id=template.enterprise_id,
                     actor=actor, action=f"coupon.{source}", target_type="coupon", target_id=coupon.pk,
                     summary=audit.text(N_("%(template)s → customer %(customer)s"), template=template.name,
                                        customer=customer.pk))
    return coupon


def _grant(
    *, enterprise_id: int, template_id: int, customer_id: int, idempotency_key: str, source: str,
    now: datetime | None, actor: Actor,
) -> Coupon:
    key = (idempotency_key or "").strip()
    if not key or len(key) > 128:
        raise ValidationFailed(_("idempotency_key must be 1-128 characters"), field="idempotency_key",
                               code="idempotency_key_length")
    existing = _find_by_key(enterprise_id, key)
    if existing is not None:
        return _same_request(existing, template_id, customer_id)
    moment = _now(now)
    template = CouponTemplate.objects.filter(id=template_id, enterprise_id=enterprise_id).first()
    if template is None:
        raise NotFound(
            _("coupon template %(template_id)s not found") % {"template_id": template_id},
            field="template_id",
        )
    if source == CouponSource.CLAIM and not template.claimable:
        raise ValidationFailed(_("this coupon can only be issued by the brand"), field="template_id",
                               code="not_claimable")
    customer = _customer(enterprise_id, customer_id)
    _check_issuable(template, moment)
    try:
        return _insert_coupon(template=template, customer=customer, key=key, source=source, now=moment, actor=actor)
    except (IntegrityError, Conflict):
        winner = _find_by_key(enterprise_id, key)  # a concurrent call with the same key won the race
        if winner is None:
            raise
        return _same_request(winner, template_id, customer_id)


def issue_coupon(
    *, enterprise_id: int, template_id: int, customer_id: int, idempotency_key: str, now: datetime | None = None,
    actor: Actor = None,
) -> Coupon:
    """Give a customer a coupon of a template (an operator, automation or a referral reward does this).
    Idempotent: the same key returns the same coupon. Respects the template's total stock and per-customer limit
    under concurrency (Conflict coupon_sold_out / coupon_limit_reached)."""
    return _grant(enterprise_id=enterprise_id, template_id=template_id, customer_id=customer_id,
                  idempotency_key=idempotency_key, source=CouponSource.ISSUE, now=now, actor=actor)


def claim_coupon(
    *, enterprise_id: int, template_id: int, customer_id: int, idempotency_key: str, now: datetime | None = None
) -> Coupon:
    """A customer takes a coupon from a claimable template (领券), e.g. from the mall's coupon centre."""
    return _grant(enterprise_id=enterprise_id, template_id=template_id, customer_id=customer_id,
                  idempotency_key=idempotency_key, source=CouponSource.CLAIM, now=now, actor=None)


def _explain_unusable(coupon: Coupon | None, customer_id: int, order_id: int, now: datetime) -> Coupon:
    if coupon is None:
        raise NotFound(_("coupon not found"), field="coupon_id", code="coupon_not_found")
    if coupon.customer_id != customer_id:
        raise ValidationFailed(_("this coupon belongs to another customer"), field="coupon_id", code="coupon_not_owned")
    if coupon.status == CouponStatus.USED:
        if coupon.order_id == order_id:
            return coupon
        raise Conflict(_("this coupon has been used"), field="coupon_id", code="coupon_used")
    if coupon.status == CouponStatus.EXPIRED or now >= coupon.valid_until:
        raise ValidationFailed(_("this coupon has expired"), field="coupon_id", code="coupon_expired")
    raise ValidationFailed(_("this coupon is not valid yet"), field="coupon_id", code="coupon_not_started")


def _lock_coupon(enterprise_id: int, coupon_id: int, customer_id: int, order_id: int, moment: datetime) -> bool:
    """The conditional UPDATE that takes the coupon, in raw SQL: every checkout with a coupon runs it, and the ORM
    takes longer to build it than the database takes to run it."""
    at = connection.ops.adapt_datetimefield_value(moment)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {connection.ops.quote_name(Coupon._meta.db_table)} "  # noqa: S608 - the model's table
            "SET status = %s, order_id = %s, used_at = %s WHERE id = %s AND enterprise_id = %s AND customer_id = %s "
            "AND status = %s AND valid_from <= %s AND valid_until > %s",
            [CouponStatus.USED.value, order_id, at, coupon_id, enterprise_id, customer_id,
             CouponStatus.AVAILABLE.value, at, at],
        )
        return cursor.rowcount == 1


def use_coupon_at_checkout(*, enterprise_id: int, coupon: CouponInfo, customer_id: int, order_id: int,
                           now: datetime) -> None:
    """`use_coupon` for the order being placed, inside its transaction: the same conditional UPDATE, then
    coupon_used, two statements and no savepoint. The event's template id and name come from the pricing input the
    order was priced with (a coupon never changes template). A coupon that cannot be used raises as in `use_coupon`
    and the caller rolls its order back."""
    if _lock_coupon(enterprise_id, coupon.coupon_id, customer_id, order_id, now):
        append_event(enterprise_id=enterprise_id, customer_id=customer_id, name="coupon_used",
                     idempotency_key=f"coupon_used:{coupon.coupon_id}:{order_id}", occurred_at=_event_time(now),
                     properties={"coupon_id": coupon.coupon_id, "template_id": coupon.template_id,
                                 "name": coupon.name, "order_id": order_id})
        return
    found = Coupon.objects.filter(id=coupon.coupon_id, enterprise_id=enterprise_id).first()
    _explain_unusable(found, customer_id, order_id, now)


@transaction.atomic
def use_coupon(
    *, enterprise_id: int, coupon_id: int, customer_id: int, order_id: int, now: datetime | None = None
) -> Coupon:
    """Lock a coupon to an order (at order placement). Idempotent for the same order; a second order gets
    Conflict(coupon_used). Set-based: the status moves only if it is still available and valid."""
    moment = _now(now)
    locked = _lock_coupon(enterprise_id, coupon_id, customer_id, order_id, moment)
    coupon = Coupon.objects.select_related("template", "customer").filter(
        id=coupon_id, enterprise_id=enterprise_id
    ).first()
    if not locked:
        return _explain_unusable(coupon, customer_id, order_id, moment)
    assert coupon is not None
    record_event(customer=coupon.customer, name="coupon_used", idempotency_key=f"coupon_used:{coupon.pk}:{order_id}",
                 occurred_at=_event_time(moment), properties=_coupon_props(coupon, coupon.template, order_id=order_id))
    return coupon


@transaction.atomic
def return_coupon(
    *, enterprise_id: int, coupon_id: int, order_id: int, reason: str = "refund", now: datetime | None = None
) -> Coupon:
    """Give a used coupon back when its order is cancelled or refunded: available again if still within its
    validity, else expired. A coupon not locked to this order is left alone (so a repeat is harmless)."""
    if reason not in ("refund", "cancel"):
        raise ValidationFailed(_("reason is refund or cancel"), field="reason", code="unknown_reason")
    moment = _now(now)
    coupon = Coupon.objects.select_related("template", "customer").filter(
        id=coupon_id, enterprise_id=enterprise_id
    ).first()
    if coupon is None:
        raise NotFound(_("coupon not found"), field="coupon_id", code="coupon_not_found")
    status = CouponStatus.AVAILABLE if moment < coupon.valid_until else CouponStatus.EXPIRED
    moved = Coupon.objects.filter(pk=coupon.pk, status=CouponStatus.USED, order_id=order_id).update(
        status=status, order_id=None, used_at=None
    )
    if moved:
        record_event(customer=coupon.customer, name="coupon_returned",
                     idempotency_key=f"coupon_returned:{coupon.pk}:{order_id}", occurred_at=_event_time(moment),
                     properties=_coupon_props(coupon, coupon.template, order_id=order_id, reason=reason))
        coupon.refresh_from_db()
    return coupon


def expire_coupons(*, now: datetime | None = None) -> int:
    """Mark every available coupon past its validity as expired (all enterprises; a periodic worker job, safe to
    run twice or concurrently). Writes coupon_expired to each customer's log. Returns how many expired."""
    moment = _now(now)
    total = 0
    while True:
        with transaction.atomic():
            batch = list(
                Coupon.objects.filter(status=CouponStatus.AVAILABLE, valid_until__lte=moment)
                .order_by("id").values_list("id", flat=True)[:EXPIRE_BATCH]
            )
            if not batch:
                return total
            Coupon.objects.filter(id__in=batch, status=CouponStatus.AVAILABLE).update(status=CouponStatus.EXPIRED)
            _expired_events(batch, moment)
            total += len(batch)


def _expired_events(coupon_ids: list[int], now: datetime) -> None:
    rows = Coupon.objects.filter(id__in=coupon_ids, status=CouponStatus.EXPIRED).values_list(
        "enterprise_id", "id", "customer_id", "template_id", "template__name"
    )
    by_enterprise: dict[int, list[EventInput]] = {}
    for enterprise_id, coupon_id, customer_id, template_id, name in rows:
        by_enterprise.setdefault(enterprise_id, []).append(EventInput(
            name="coupon_expired", occurred_at=_event_time(now), idempotency_key=f"coupon_expired:{coupon_id}",
            customer_id=customer_id, properties={"coupon_id": coupon_id, "template_id": template_id, "name": name},
        ))
    for enterprise_id, events in by_enterprise.items():
        ingest_events(enterprise_id=enterprise_id, batch=events)


def void_coupon(*, enterprise_id: int, coupon_id: int, reason: str, at: datetime | None = None) -> bool:
    """Take back a coupon that was given (a referral reward whose qualifying order was refunded): voided only while
    still available, in one conditional UPDATE (a checkout using it at the same moment wins or loses cleanly).
    Returns False when it was used, expired or voided already: then there is nothing to take back."""
    moment = _now(at)
    voided = Coupon.objects.filter(pk=coupon_id, enterprise_id=enterprise_id, status=CouponStatus.AVAILABLE).update(
        status=CouponStatus.VOIDED)
    if voided:
        row = Coupon.objects.filter(pk=coupon_id).values_list("customer_id", "template_id").first()
        if row is not None:
            append_event(enterprise_id=enterprise_id, customer_id=row[0], name="coupon_voided",
                         idempotency_key=f"coupon_voided:{coupon_id}", occurred_at=_event_time(moment),
                         properties={"coupon_id": coupon_id, "template_id": row[1], "reason": reason[:20]})
    return bool(voided)


# ---------------------------------------------------------------------------------------------------------------
# Full-reductions


@dataclass(frozen=True)
class FullReductionInput:
    """`tiers`: (threshold, value) pairs. Thresholds are fen (threshold_kind amount) or pieces (quantity); values
    are fen off (benefit_kind amount) or percent off (percent: 10 = 10% off, i.e. 9折)."""

    name: str
    tiers: Sequence[tuple[int, int]]
    starts_at: datetime
    ends_at: datetime
    threshold_kind: str = ThresholdKind.AMOUNT
    benefit_kind: str = BenefitKind.AMOUNT_OFF
    scope: str = PromotionScope.ALL
    product_ids: Sequence[int] = ()
    category_ids: Sequence[int] = ()
    is_active: bool = True
    currency: str = settings.SIYU_CURRENCY


def _clean_tier(index: int, threshold: Any, value: Any, data: FullReductionInput) -> None:
    where = f"tiers[{index}]"
    if not isinstance(threshold, int) or not isinstance(value, int) or threshold < 1 or value < 1:
        raise ValidationFailed(_("a tier's threshold and value are positive whole numbers"), field=where, index=index,
                               code="invalid_tier")
    if data.benefit_kind == BenefitKind.PERCENT_OFF and value > 99:
        raise ValidationFailed(_("percent off is 1-99"), field=where, index=index, code="invalid_percent")
    both_money = data.threshold_kind == ThresholdKind.AMOUNT and data.benefit_kind == BenefitKind.AMOUNT_OFF
    if both_money and value >= threshold:
        raise ValidationFailed(_("the amount off must be below the threshold"), field=where, index=index,
                               code="amount_above_threshold")


def _clean_tiers(data: FullReductionInput) -> list[list[int]]:
    if data.threshold_kind not in ThresholdKind.values:
        raise ValidationFailed(
            _("threshold kind is one of %(join)s") % {"join": ', '.join(ThresholdKind.values)},
            field="threshold_kind",
            code="unknown_threshold_kind",
        )
    if data.benefit_kind not in BenefitKind.values:
        raise ValidationFailed(
            _("benefit kind is one of %(join)s") % {"join": ', '.join(BenefitKind.values)},
            field="benefit_kind",
            code="unknown_benefit_kind",
        )
    if not data.tiers or len(data.tiers) > MAX_TIERS:
        raise ValidationFailed(_("1-%(MAX_TIERS)s tiers") % {"MAX_TIERS": MAX_TIERS}, field="tiers", code="required")
    previous: tuple[int, int] | None = None
    for index, (threshold, value) in enumerate(data.tiers):
        _clean_tier(index, threshold, value, data)
        if previous is not None and (threshold <= previous[0] or value <= previous[1]):
            raise ValidationFailed(_("each tier needs a higher threshold and a bigger discount than the one before"),
                                   field=f"tiers[{index}]", index=index, code="tiers_not_ascending")
        previous = (threshold, value)
    return [[t, v] for t, v in data.tiers]


def _clean_reduction(enterprise_id: int, data: FullReductionInput) -> tuple[dict[str, Any], list[int], list[int]]:
    name = _clean_name(data.name)
    tiers = _clean_tiers(data)
    _clean_window(data.starts_at, data.ends_at, start="starts_at", end="ends_at")
    products, categories = _clean_targets(enterprise_id, data.scope, data.product_ids, data.category_ids)
    fields = {"name": name, "tiers": tiers, "threshold_kind": data.threshold_kind, "benefit_kind": data.benefit_kind,
              "scope": data.scope, "starts_at": data.starts_at, "ends_at": data.ends_at, "is_active": data.is_active,
              "currency": data.currency}
    return fields, products, categories


@transaction.atomic
def create_full_reduction(*, scope: Scope, data: FullReductionInput, actor: Actor = None) -> FullReduction:
    require_editor(scope)
    fields, products, categories = _clean_reduction(scope.enterprise_id, data)
    rule = FullReduction.objects.create(enterprise_id=scope.enterprise_id, **fields)
    rule.products.set(products)
    rule.categories.set(categories)
    audit.record(enterprise_id=scope.enterprise_id,
                 actor=actor, action="full_reduction.create", target_type="full_reduction", target_id=rule.pk,
                 summary=rule.name)
    return rule


@transaction.atomic
def update_full_reduction(
    *, scope: Scope, reduction_id: int, data: FullReductionInput, actor: Actor = None
) -> FullReduction:
    require_editor(scope)
    rule = FullReduction.objects.filter(id=reduction_id, enterprise_id=scope.enterprise_id).first()
    if rule is None:
        raise NotFound(
            _("full-reduction %(reduction_id)s not found") % {"reduction_id": reduction_id},
            field="reduction_id",
        )
    fields, products, categories = _clean_reduction(scope.enterprise_id, data)
    for key, value in fields.items():
        setattr(rule, key, value)
    rule.save()
    rule.products.set(products)
    rule.categories.set(categories)
    audit.record(enterprise_id=scope.enterprise_id,
                 actor=actor, action="full_reduction.update", target_type="full_reduction", target_id=rule.pk,
                 summary=rule.name)
    return rule


# ---------------------------------------------------------------------------------------------------------------
# Flash sales


@dataclass(frozen=True)
class FlashItemInput:
    sku_id: int
    flash_price: Money
    flash_stock: int
    per_customer_limit: int = 1


@dataclass(frozen=True)
class FlashSaleInput:
    name: str
    starts_at: datetime
    ends_at: datetime
    items: Sequence[FlashItemInput]
    is_active: bool = True
    allow_oversell: bool = False  # flash stock above the SKU's stock only when the operator says so


def _check_flash_stock(enterprise_id: int, data: FlashSaleInput, skus: dict[int, Sku], sale_id: int | None) -> None:
    """What a flash item can still promise (flash stock less what it sold) is at most what the SKU has, unless the
    operator chose to oversell (flash_stock_too_high on the item's flash_stock)."""
    if data.allow_oversell:
        return
    sold = dict(FlashSaleItem.objects.filter(flash_sale_id=sale_id, flash_sale__enterprise_id=enterprise_id)
                .values_list("sku_id", "sold")) if sale_id is not None else {}
    for index, item in enumerate(data.items):
        on_hand = skus[item.sku_id].stock
        if item.flash_stock - sold.get(item.sku_id, 0) > on_hand:
            raise ValidationFailed(
                _("flash stock is above the %(on_hand)s in stock: lower it or choose to oversell")
                    % {"on_hand": on_hand},
                field=f"items[{index}].flash_stock", index=index, code="flash_stock_too_high")


def _clean_flash_item(index: int, item: FlashItemInput, sku: Sku | None, seen: set[int]) -> None:
    where = f"items[{index}]"
    if sku is None or not sku.is_active:
        raise NotFound(
            _("unknown SKU %(sku_id)s") % {"sku_id": item.sku_id},
            field=f"{where}.sku_id", index=index, code="unknown_sku",
        )
    if item.sku_id in seen:
        raise ValidationFailed(_("a SKU appears twice"), field=f"{where}.sku_id", index=index, code="duplicate_sku")
    if item.flash_price.currency != sku.product.currency:
        raise ValidationFailed(_("the flash price is in another currency"), field=f"{where}.flash_price", index=index,
                               code="currency_mismatch")
    if item.flash_price.fen < 0:
        raise ValidationFailed(_("the flash price cannot be negative"), field=f"{where}.flash_price", index=index,
                               code="negative_price")
    if item.flash_price.fen >= sku.price_fen:
        raise ValidationFailed(_("the flash price must be below the price"), field=f"{where}.flash_price", index=index,
                               code="flash_price_not_lower")
    if not isinstance(item.flash_stock, int) or not 1 <= item.flash_stock <= 1_000_000:
        raise ValidationFailed(_("flash stock is 1-1000000"), field=f"{where}.flash_stock", index=index,
                               code="invalid_stock")
    if not isinstance(item.per_customer_limit, int) or not 1 <= item.per_customer_limit <= 1000:
        raise ValidationFailed(_("per-customer limit is 1-1000"), field=f"{where}.per_customer_limit", index=index,
                               code="per_customer_limit_range")


def _clean_flash(enterprise_id: int, data: FlashSaleInput, sale_id: int | None) -> str:
    name = _clean_name(data.name)
    _clean_window(data.starts_at, data.ends_at, start="starts_at", end="ends_at")
    if not data.items:
        raise ValidationFailed(_("a flash sale needs at least one SKU"), field="items", code="required")
    skus = {s.pk: s for s in Sku.objects.filter(enterprise_id=enterprise_id, id__in=[i.sku_id for i in data.items])
            .select_related("product")}
    seen: set[int] = set()
    for index, item in enumerate(data.items):
        _clean_flash_item(index, item, skus.get(item.sku_id), seen)
        seen.add(item.sku_id)
    _check_flash_stock(enterprise_id, data, skus, sale_id)
    overlapping = FlashSaleItem.objects.filter(
        flash_sale__enterprise_id=enterprise_id, flash_sale__is_active=True, sku_id__in=seen,
        flash_sale__starts_at__lt=data.ends_at, flash_sale__ends_at__gt=data.starts_at,
    ).exclude(flash_sale_id=sale_id).values_list("sku_id", flat=True).first()
    if data.is_active and overlapping is not None:
        index = [i.sku_id for i in data.items].index(overlapping)
        raise Conflict(_("this SKU is in another flash sale at the same time"), field=f"items[{index}].sku_id",
                       index=index, code="flash_overlap")
    return name


@transaction.atomic
def create_flash_sale(*, scope: Scope, data: FlashSaleInput, actor: Actor = None) -> FlashSale:
    require_editor(scope)
    name = _clean_flash(scope.enterprise_id, data, None)
    sale = FlashSale.objects.create(enterprise_id=scope.enterprise_id, name=name, starts_at=data.starts_at,
                                    ends_at=data.ends_at, is_active=data.is_active,
                                    allow_oversell=data.allow_oversell)
    FlashSaleItem.objects.bulk_create([
        FlashSaleItem(flash_sale=sale, sku_id=i.sku_id, flash_price_fen=i.flash_price.fen, flash_stock=i.flash_stock,
                      per_customer_limit=i.per_customer_limit)
        for i in data.items
    ])
    audit.record(enterprise_id=scope.enterprise_id,
                 actor=actor, action="flash_sale.create", target_type="flash_sale", target_id=sale.pk, summary=name)
    return sale


def _update_flash_items(sale: FlashSale, items: Sequence[FlashItemInput]) -> None:
    existing = {item.sku_id: item for item in FlashSaleItem.objects.select_for_update().filter(flash_sale=sale)}
    wanted = {i.sku_id for i in items}
    for sku_id, item in existing.items():
        if sku_id not in wanted:
            if item.sold:
                raise Conflict(
                    _("a SKU that has sold cannot leave the flash sale"),
                    field="items", code="flash_item_sold",
                )
            item.delete()
    for index, data in enumerate(items):
        current = existing.get(data.sku_id)
        if current is None:
            FlashSaleItem.objects.create(flash_sale=sale, sku_id=data.sku_id, flash_price_fen=data.flash_price.fen,
                                         flash_stock=data.flash_stock, per_customer_limit=data.per_customer_limit)
            continue
        if data.flash_stock < current.sold:
            raise ValidationFailed(
                _("%(sold)s were sold already") % {"sold": current.sold},
                field=f"items[{index}].flash_stock", index=index, code="below_sold",
            )
        FlashSaleItem.objects.filter(pk=current.pk, sold__lte=data.flash_stock).update(
            flash_price_fen=data.flash_price.fen, flash_stock=data.flash_stock,
            per_customer_limit=data.per_customer_limit,
        )


@transaction.atomic
def update_flash_sale(*, scope: Scope, flash_sale_id: int, data: FlashSaleInput, actor: Actor = None) -> FlashSale:
    require_editor(scope)
    sale = FlashSale.objects.select_for_update().filter(id=flash_sale_id, enterprise_id=scope.enterprise_id).first()
    if sale is None:
        raise NotFound(
            _("flash sale %(flash_sale_id)s not found") % {"flash_sale_id": flash_sale_id},
            field="flash_sale_id",
        )
    sale.name = _clean_flash(scope.enterprise_id, data, sale.pk)
    sale.starts_at, sale.ends_at, sale.is_active = data.starts_at, data.ends_at, data.is_active
    sale.allow_oversell = data.allow_oversell
    sale.save()
    _update_flash_items(sale, data.items)
    audit.record(enterprise_id=scope.enterprise_id,
                 actor=actor, action="flash_sale.update", target_type="flash_sale", target_id=sale.pk,
                 summary=sale.name)
    return sale


@dataclass(frozen=True)
class FlashReservation:
    """`line` is the caller's line index, reported in errors; defaults to the position."""

    item_id: int
    quantity: int
    line: int | None = None


def _flash_item(enterprise_id: int, item_id: int, index: int, now: datetime) -> FlashSaleItem:
    item = FlashSaleItem.objects.select_related("flash_sale").filter(
        id=item_id, flash_sale__enterprise_id=enterprise_id
    ).first()
    if item is None:
        raise NotFound(
            _("no flash sale item %(item_id)s") % {"item_id": item_id},
            field=f"lines[{index}].flash_item_id", index=index, code="unknown_flash_item",
        )
    sale = item.flash_sale
    if not sale.is_active or not sale.starts_at <= now < sale.ends_at:
        raise ValidationFailed(
            _("the flash sale %(name)s is not running now") % {"name": sale.name},
            field=f"lines[{index}].flash_item_id", index=index, code="flash_not_active",
        )
    return item


def _reserve_one(item: FlashSaleItem, customer_id: int, quantity: int, index: int) -> None:
    # 1. the flash stock: UPDATE ... SET sold = sold + n WHERE id = ? AND sold <= flash_stock - n
    took = FlashSaleItem.objects.filter(pk=item.pk, sold__lte=F("flash_stock") - quantity).update(
        sold=F("sold") + quantity
    )
    if took != 1:
        raise Conflict(_("the flash sale is sold out"), field=f"lines[{index}].quantity", index=index,
                       code="out_of_stock")
    # 2. the customer's counter row (unique per item and customer), raised only within the limit
    FlashPurchase.objects.bulk_create([FlashPurchase(item_id=item.pk, customer_id=customer_id, quantity=0)],
                                      ignore_conflicts=True)
    counted = FlashPurchase.objects.filter(
        item_id=item.pk, customer_id=customer_id, quantity__lte=item.per_customer_limit - quantity
    ).update(quantity=F("quantity") + quantity)
    if counted != 1:
        raise Conflict(
            _("at most %(per_customer_limit)s per customer in this flash sale")
            % {"per_customer_limit": item.per_customer_limit},
            field=f"lines[{index}].quantity", index=index, code="flash_limit_exceeded",
        )


def _flash_demand(items: Sequence[FlashReservation]) -> dict[int, tuple[int, int]]:
    if not items:
        raise ValidationFailed(_("no items"), field="lines", code="required")
    demand: dict[int, tuple[int, int]] = {}
    for position, item in enumerate(items):
        index = item.line if item.line is not None else position
        if not isinstance(item.quantity, int) or isinstance(item.quantity, bool) or item.quantity < 1:
            raise ValidationFailed(_("quantity must be a positive whole number"), field=f"lines[{index}].quantity",
                                   index=index, code="invalid_quantity")
        total, first = demand.get(item.item_id, (0, index))
        demand[item.item_id] = (total + item.quantity, first)
    return demand


def reserve_flash(
    *, enterprise_id: int, customer_id: int, items: Sequence[FlashReservation], now: datetime | None = None
) -> None:
    """Take flash-sale units for an order: the item's flash stock and the customer's per-item counter, each a
    conditional UPDATE, items in id order (item row, then counter row: one lock order, no deadlocks). All or
    nothing: Conflict(out_of_stock) when the flash stock is gone, Conflict(flash_limit_exceeded) past the
    customer's limit. The physical SKU stock is separate: reserve it with catalog.services.reserve_stock."""
    moment = _now(now)
    demand = _flash_demand(items)
    with transaction.atomic():
        for item_id in sorted(demand):
            quantity, index = demand[item_id]
            item = _flash_item(enterprise_id, item_id, index, moment)
            _reserve_one(item, customer_id, quantity, index)


def release_flash(*, enterprise_id: int, customer_id: int, items: Sequence[FlashReservation]) -> None:
    """Give flash units back (an unpaid order cancelled): the item's sold count and the customer's counter."""
    demand = _flash_demand(items)
    with transaction.atomic():
        for item_id in sorted(demand):
            quantity, index = demand[item_id]
            back = FlashSaleItem.objects.filter(
                pk=item_id, flash_sale__enterprise_id=enterprise_id
            ).values_list("pk", flat=True).first()
            if back is None:
                raise NotFound(
                    _("no flash sale item %(item_id)s") % {"item_id": item_id},
                    field=f"lines[{index}].flash_item_id", index=index, code="unknown_flash_item",
                )
            FlashSaleItem.objects.filter(pk=item_id, sold__gte=quantity).update(sold=F("sold") - quantity)
            FlashPurchase.objects.filter(item_id=item_id, customer_id=customer_id, quantity__gte=quantity).update(
                quantity=F("quantity") - quantity
            )


# ---------------------------------------------------------------------------------------------------------------
# Group buys


@dataclass(frozen=True)
class GroupBuyInput:
    name: str
    sku_id: int
    group_price: Money
    starts_at: datetime
    ends_at: datetime
    group_size: int = 2
    hours: int = 24
    is_active: bool = True


def _clean_group_buy(enterprise_id: int, data: GroupBuyInput) -> dict[str, Any]:
    name = _clean_name(data.name)
    _clean_window(data.starts_at, data.ends_at, start="starts_at", end="ends_at")
    sku = Sku.objects.select_related("product").filter(id=data.sku_id, enterprise_id=enterprise_id,
                                                        is_active=True).first()
    if sku is None:
        raise NotFound(_("unknown SKU %(sku_id)s") % {"sku_id": data.sku_id}, field="sku_id", code="unknown_sku")
    if data.group_price.currency != sku.product.currency:
        raise ValidationFailed(
            _("the group price is in another currency"),
            field="group_price", code="currency_mismatch",
        )
    if not 0 <= data.group_price.fen < sku.price_fen:
        raise ValidationFailed(_("the group price is below the price and not negative"), field="group_price",
                               code="invalid_price")
    if not isinstance(data.group_size, int) or not 2 <= data.group_size <= 100:
        raise ValidationFailed(_("a group is 2-100 people"), field="group_size", code="group_size_range")
    if not isinstance(data.hours, int) or not 1 <= data.hours <= 720:
        raise ValidationFailed(_("a group has 1-720 hours to fill"), field="hours", code="hours_range")
    return {"name": name, "sku": sku, "group_price_fen": data.group_price.fen, "group_size": data.group_size,
            "hours": data.hours, "starts_at": data.starts_at, "ends_at": data.ends_at, "is_active": data.is_active}


@transaction.atomic
def create_group_buy(*, scope: Scope, data: GroupBuyInput, actor: Actor = None) -> GroupBuy:
    require_editor(scope)
    group_buy = GroupBuy.objects.create(enterprise_id=scope.enterprise_id, **_clean_group_buy(scope.enterprise_id,
                                                                                              data))
    audit.record(enterprise_id=scope.enterprise_id,
                 actor=actor, action="group_buy.create", target_type="group_buy", target_id=group_buy.pk,
                 summary=group_buy.name)
    return group_buy


@transaction.atomic
def update_group_buy(*, scope: Scope, group_buy_id: int, data: GroupBuyInput, actor: Actor = None) -> GroupBuy:
    """Open teams keep the size they started with."""
    require_editor(scope)
    group_buy = GroupBuy.objects.filter(id=group_buy_id, enterprise_id=scope.enterprise_id).first()
    if group_buy is None:
        raise NotFound(_("group buy %(group_buy_id)s not found") % {"group_buy_id": group_buy_id}, field="group_buy_id")
    for key, value in _clean_group_buy(scope.enterprise_id, data).items():
        setattr(group_buy, key, value)
    group_buy.save()
    audit.record(enterprise_id=scope.enterprise_id,
                 actor=actor, action="group_buy.update", target_type="group_buy", target_id=group_buy.pk,
                 summary=group_buy.name)
    return group_buy


def _team_event(customer: Customer | int, name: str, team: GroupBuyTeam, order_id: int | None, now: datetime) -> None:
    props = {"team_id": team.pk, "group_buy_id": team.group_buy_id, "order_id": order_id}
    target = customer if isinstance(customer, Customer) else Customer.objects.get(pk=customer)
    record_event(customer=target, name=name, idempotency_key=f"{name}:{team.pk}:{target.pk}",
                 occurred_at=_event_time(now), properties=props)


@transaction.atomic
def open_team(
    *, enterprise_id: int, group_buy_id: int, customer_id: int, order_id: int, now: datetime | None = None
) -> GroupBuyTeam:
    """Start a team with its leader (call it when the leader's order is paid). It has `hours` to fill."""
    moment = _now(now)
    group_buy = GroupBuy.objects.filter(id=group_buy_id, enterprise_id=enterprise_id).first()
    if group_buy is None:
        raise NotFound(
            _("group buy %(group_buy_id)s not found") % {"group_buy_id": group_buy_id},
            field="group_buy_id", code="unknown_group_buy",
        )
    if not group_buy.is_active or not group_buy.starts_at <= moment < group_buy.ends_at:
        raise ValidationFailed(
            _("this group buy is not running now"),
            field="group_buy_id", code="group_buy_not_active",
        )
    customer = _customer(enterprise_id, customer_id)
    team = GroupBuyTeam.objects.create(group_buy=group_buy, leader=customer, size=group_buy.group_size,
                                       member_count=1, opened_at=moment,
                                       expires_at=moment + timedelta(hours=group_buy.hours))
    try:
        with transaction.atomic():
            GroupBuyMember.objects.create(team=team, customer=customer, order_id=order_id, joined_at=moment)
    except IntegrityError as exc:
        raise Conflict(_("this order is already in a team"), field="order_id", code="order_in_team") from exc
    _team_event(customer, "group_buy_opened", team, order_id, moment)
    return team


def _explain_closed(team_id: int, now: datetime) -> None:
    team = GroupBuyTeam.objects.get(pk=team_id)
    if team.status == TeamStatus.OPEN and team.expires_at > now:
        raise Conflict(_("this team is full"), field="team_id", code="team_full")
    raise Conflict(_("this team has closed"), field="team_id", code="team_closed")


@transaction.atomic
def join_team(
    *, enterprise_id: int, team_id: int, customer_id: int, order_id: int, now: datetime | None = None
) -> GroupBuyTeam:
    """Join an open team (call it when the member's order is paid); the member who fills it completes the team.
    The seat is a conditional UPDATE (`member_count < size AND status = open AND expires_at > now`)."""
    moment = _now(now)
    team = GroupBuyTeam.objects.filter(id=team_id, group_buy__enterprise_id=enterprise_id).first()
    if team is None:
        raise NotFound(_("team %(team_id)s not found") % {"team_id": team_id}, field="team_id")
    customer = _customer(enterprise_id, customer_id)
    if GroupBuyMember.objects.filter(team=team, customer=customer).exists():
        raise Conflict(_("already in this team"), field="team_id", code="already_joined")
    seated = GroupBuyTeam.objects.filter(
        pk=team.pk, status=TeamStatus.OPEN, expires_at__gt=moment, member_count__lt=F("size")
    ).update(member_count=F("member_count") + 1)
    if not seated:
        _explain_closed(team.pk, moment)
    try:
        with transaction.atomic():
            GroupBuyMember.objects.create(team=team, customer=customer, order_id=order_id, joined_at=moment)
    except IntegrityError as exc:
        raise Conflict(_("already in this team, or this order is in a team"), field="team_id",
                       code="already_joined") from exc
    _team_event(customer, "group_buy_joined", team, order_id, moment)
    completed = GroupBuyTeam.objects.filter(pk=team.pk, status=TeamStatus.OPEN, member_count=F("size")).update(
        status=TeamStatus.COMPLETE, closed_at=moment
    )
    team.refresh_from_db()
    if completed:
        for member in team.members.select_related("customer"):
            _team_event(member.customer, "group_buy_completed", team, member.order_id, moment)
    return team


@transaction.atomic
def leave_team(*, enterprise_id: int, order_id: int, now: datetime | None = None) -> bool:
    """Take an order's seat back while its team is still open (the order was cancelled or refunded before the team
    completed). A team left empty fails. Returns False when the order holds no seat in an open team."""
    moment = _now(now)
    member = GroupBuyMember.objects.filter(
        order_id=order_id, team__group_buy__enterprise_id=enterprise_id, team__status=TeamStatus.OPEN
    ).first()
    if member is None:
        return False
    freed = GroupBuyTeam.objects.filter(pk=member.team_id, status=TeamStatus.OPEN, member_count__gte=1).update(
        member_count=F("member_count") - 1
    )
    if not freed:
        return False
    member.delete()
    GroupBuyTeam.objects.filter(pk=member.team_id, status=TeamStatus.OPEN, member_count=0).update(
        status=TeamStatus.FAILED, closed_at=moment
    )
    return True


@dataclass(frozen=True)
class GroupBuyRefund:
    enterprise_id: int
    group_buy_id: int
    team_id: int
    customer_id: int
    order_id: int


def expire_group_buys(*, now: datetime | None = None) -> list[GroupBuyRefund]:
    """Fail every open team past its deadline (all enterprises; a periodic job) and return the orders to refund.
    Teams move open → failed in one conditional UPDATE, so each failed team is returned exactly once: call this
    inside the transaction that records the refund requests (idempotency key `group_buy_refund:<order_id>`)."""
    moment = _now(now)
    with transaction.atomic():
        due = list(
            GroupBuyTeam.objects.select_for_update(skip_locked=True)
            .filter(status=TeamStatus.OPEN, expires_at__lte=moment).values_list("id", flat=True)
        )
        if not due:
            return []
        GroupBuyTeam.objects.filter(id__in=due, status=TeamStatus.OPEN).update(status=TeamStatus.FAILED,
                                                                              closed_at=moment)
        rows = list(GroupBuyMember.objects.filter(team_id__in=due).values_list(
            "team__group_buy__enterprise_id", "team__group_buy_id", "team_id", "customer_id", "order_id"
        ).order_by("team_id", "id"))
        refunds = [GroupBuyRefund(*row) for row in rows]
        _failed_events(refunds, moment)
    return refunds


def _failed_events(refunds: list[GroupBuyRefund], now: datetime) -> None:
    by_enterprise: dict[int, list[EventInput]] = {}
    for r in refunds:
        by_enterprise.setdefault(r.enterprise_id, []).append(EventInput(
            name="group_buy_failed", occurred_at=_event_time(now), customer_id=r.customer_id,
            idempotency_key=f"group_buy_failed:{r.team_id}:{r.customer_id}",
            properties={"team_id": r.team_id, "group_buy_id": r.group_buy_id, "order_id": r.order_id},
        ))
    for enterprise_id, events in by_enterprise.items():
        ingest_events(enterprise_id=enterprise_id, batch=events)


# ---------------------------------------------------------------------------------------------------------------
# Shipping


@transaction.atomic
def set_shipping_policy(
    *, scope: Scope, free_over: Money | None, fee: Money, actor: Actor = None
) -> ShippingPolicy:
    """Free shipping from `free_over` (None: never free), else `fee` per order."""
    require_editor(scope)
    if fee.fen < 0:
        raise ValidationFailed(_("the fee cannot be negative"), field="fee", code="negative_price")
    if free_over is not None and (free_over.fen < 0 or free_over.currency != fee.currency):
        raise ValidationFailed(_("the free-shipping threshold is a non-negative amount in the fee's currency"),
                               field="free_over", code="free_shipping_threshold_range")
    policy, _ignored = ShippingPolicy.objects.update_or_create(
        enterprise_id=scope.enterprise_id,
        defaults={"free_over_fen": free_over.fen if free_over else None, "fee_fen": fee.fen, "currency": fee.currency},
    )
    audit.record(enterprise_id=scope.enterprise_id,
                 actor=actor, action="shipping.update", target_type="shipping_policy", target_id=policy.pk,
                 summary=(audit.text(N_("free over %(free_over)s, else %(fee)s"), free_over=str(free_over),
                                     fee=str(fee))
                          if free_over else audit.text(N_("shipping fee %(fee)s"), fee=str(fee))))
    return policy


# ---------------------------------------------------------------------------------------------------------------
# Customer merge


def _merge_counters(model: type[Model], key: str, count: str, absorbed_id: int, survivor_id: int) -> int:
    """Counter rows unique per (key, customer): add the absorbed customer's counts into the survivor's rows, then
    move the rows the survivor did not have. Set-based."""
    manager = model._default_manager
    absorbed = manager.filter(customer_id=absorbed_id)
    survivor_keys = manager.filter(customer_id=survivor_id).values(key)
    theirs = Subquery(manager.filter(customer_id=absorbed_id, **{key: OuterRef(key)}).values(count)[:1])
    manager.filter(customer_id=survivor_id, **{f"{key}__in": absorbed.values(key)}).update(
        **{count: F(count) + theirs}
    )
    clashing = absorbed.filter(**{f"{key}__in": survivor_keys})
    merged = clashing.count()
    clashing.delete()
    return merged + int(absorbed.update(customer_id=survivor_id))


def merge_customer_promotions(absorbed_id: int, survivor_id: int) -> int:
    """Coupons, coupon quotas, flash-sale counters and group-buy seats follow a merged customer (registered as a
    customers merge step)."""
    moved = int(Coupon.objects.filter(customer_id=absorbed_id).update(customer_id=survivor_id))
    moved += _merge_counters(CouponQuota, "template_id", "issued", absorbed_id, survivor_id)
    moved += _merge_counters(FlashPurchase, "item_id", "quantity", absorbed_id, survivor_id)
    shared_teams = GroupBuyMember.objects.filter(customer_id=survivor_id).values("team_id")
    moved += int(GroupBuyMember.objects.filter(customer_id=absorbed_id).exclude(team_id__in=shared_teams).update(
        customer_id=survivor_id
    ))
    GroupBuyTeam.objects.filter(leader_id=absorbed_id).update(leader_id=survivor_id)
    return moved


# ---------------------------------------------------------------------------------------------------------------
# Demo data


def seed_demo_promotions(*, enterprise_id: int, rng: Random, now: datetime | None = None) -> tuple[int, int]:
    """Coupon templates and full-reductions over the demo catalog. Returns (templates, full-reductions)."""
    moment = _now(now)
    scope = Scope.hq(enterprise_id, label="seed")
    roots = {c.name: c.pk for c in Category.objects.filter(enterprise_id=enterprise_id, parent__isnull=True)}
    year_start, year_end = moment - timedelta(days=365), moment + timedelta(days=365)
    cny = settings.SIYU_CURRENCY
    templates = [
        CouponTemplateInput(name="新人券 满99减20", kind=CouponKind.THRESHOLD, amount_off=Money(2000, cny),
                            threshold=Money(9900, cny), valid_days=30, description="新客首单"),
        CouponTemplateInput(name="无门槛5元券", kind=CouponKind.FIXED, amount_off=Money(500, cny), valid_days=7,
                            per_customer_limit=3, claimable=True),
        CouponTemplateInput(name="个护美妆9折券", kind=CouponKind.PERCENT, percent_off=10, max_off=Money(5000, cny),
                            scope=PromotionScope.CATEGORIES, category_ids=[roots["个护美妆"]],
                            validity_kind=ValidityKind.FIXED, valid_from=year_start, valid_until=year_end),
        CouponTemplateInput(name="家居满300减50", kind=CouponKind.THRESHOLD, amount_off=Money(5000, cny),
                            threshold=Money(30000, cny), scope=PromotionScope.CATEGORIES,
                            category_ids=[roots["家居耐用"]], valid_days=14, total_stock=5000),
        CouponTemplateInput(name="会员日8.5折券", kind=CouponKind.PERCENT, percent_off=15, max_off=Money(10000, cny),
                            valid_days=3, claimable=True, total_stock=rng.choice([2000, 3000, 5000])),
    ]
    for data in templates:
        create_coupon_template(scope=scope, data=data)
    create_full_reduction(scope=scope, data=FullReductionInput(
        name="全场满199减20/满299减40/满499减80", tiers=[(19900, 2000), (29900, 4000), (49900, 8000)],
        starts_at=year_start, ends_at=year_end))
    create_full_reduction(scope=scope, data=FullReductionInput(
        name="食品饮料 满2件9折/满3件85折", tiers=[(2, 10), (3, 15)], threshold_kind=ThresholdKind.QUANTITY,
        benefit_kind=BenefitKind.PERCENT_OFF, scope=PromotionScope.CATEGORIES, category_ids=[roots["食品饮料"]],
        starts_at=year_start, ends_at=year_end))
    return len(templates), 2


def demo_promotion_counts(*, enterprise_id: int) -> tuple[int, int]:
    return (CouponTemplate.objects.filter(enterprise_id=enterprise_id).count(),
            FullReduction.objects.filter(enterprise_id=enterprise_id).count())



# ---------------------------------------------------------------------------------------------------------------
# Issuing to a set of customers (a tag set, a segment): a batch, frozen at confirmation, issued set-based by the worker


BATCH_CHUNK = 5000  # customers per chunk (one transaction, one INSERT … SELECT; also the event batch's limit)
TASK_RUN_BATCH = "promotions.run_coupon_batch"


@dataclass(frozen=True)
class BatchTargets:
    """Whom a batch is for: the customers (a query of ids, already cut to the operator's scope), and how the operator
    picked them, for the batch page and the audit log."""

    source: str  # CouponBatchSource
    label: str
    params: dict[str, Any]
    customers: Any  # QuerySet of Customer


def tag_issue_targets(scope: Scope, *, tag_ids: Sequence[int], match: str = "all") -> Any:
    """The customers of the scope carrying the tags (all of them, or any): what the confirmation counts."""
    if not tag_ids:
        raise ValidationFailed(_("choose at least one tag"), field="tag_ids", code="tags_required")
    known = set(customer_queries.tags(scope).filter(pk__in=list(tag_ids)).values_list("pk", flat=True))
    for index, tag_id in enumerate(tag_ids):
        if tag_id not in known:
            raise NotFound(
                _("unknown tag %(tag_id)s") % {"tag_id": tag_id},
                field="tag_ids", index=index, code="unknown_tag",
            )
    flt = customer_queries.CustomerFilter(tag_ids=tuple(tag_ids), tag_match="any" if match == "any" else "all")
    return customer_queries.filtered_customers(scope, flt).select_related(None).prefetch_related(None)


def tag_batch_targets(scope: Scope, *, tag_ids: Sequence[int], match: str = "all") -> BatchTargets:
    customers = tag_issue_targets(scope, tag_ids=tag_ids, match=match)
    names = list(customer_queries.tags(scope).filter(pk__in=list(tag_ids)).order_by("name")
                 .values_list("name", flat=True))
    return BatchTargets(source=CouponBatchSource.TAGS, label="、".join(names)[:255],
                        params={"tag_ids": list(tag_ids), "match": "any" if match == "any" else "all"},
                        customers=customers)


def _batch_template(scope: Scope, template_id: int) -> CouponTemplate:
    template = CouponTemplate.objects.filter(id=template_id, enterprise_id=scope.enterprise_id).first()
    if template is None:
        raise NotFound(_("coupon template %(template_id)s not found") % {"template_id": template_id},
                       field="template_id", code="template_not_found")
    return template


def _same_batch(batch: CouponBatch, template_id: int) -> CouponBatch:
    if batch.template_id != template_id:
        raise Conflict(_("this confirmation was used for another coupon"), field="batch_key",
                       code="idempotency_key_reused")
    return batch


def start_coupon_batch(*, scope: Scope, template_id: int, targets: BatchTargets, batch_key: str,
                       actor: Actor = None) -> CouponBatch:
    """Freeze the set (one INSERT … SELECT of its customer ids), record the batch and its audit entry, and queue the
    issue. A repeat of `batch_key` (a double submit) returns the first batch and freezes nothing more."""
    if not scope.is_manager:
        raise PermissionDenied(_("managers and HQ issue coupons to many customers at once"), code="managers_only")
    key = (batch_key or "").strip()
    if not key or len(key) > 64:
        raise ValidationFailed(_("batch_key must be 1-64 characters"), field="batch_key", code="invalid_batch_key")
    first = CouponBatch.objects.filter(enterprise_id=scope.enterprise_id, key=key).first()
    if first is not None:
        return _same_batch(first, template_id)
    template = _batch_template(scope, template_id)
    _check_issuable(template, timezone.now())  # a paused or expired template issues nobody, before any work
    try:
        with transaction.atomic():
            batch = CouponBatch.objects.create(
                enterprise_id=scope.enterprise_id, template=template, key=key, source=targets.source,
                source_label=targets.label[:255], source_params=targets.params, created_by=audit.user_of(actor))
            batch.total = _freeze_targets(batch, targets.customers)
            CouponBatch.objects.filter(pk=batch.pk).update(total=batch.total)
            audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="coupon.issue_batch",
                         target_type="coupon_template", target_id=template.pk,
                         summary=f"{template.name} → {batch.total} ({targets.label})",
                         changes={"batch": batch.pk, "source": targets.source, **targets.params,
                                  "customers": batch.total})
            transaction.on_commit(lambda: jobs.get(TASK_RUN_BATCH).enqueue(batch.pk))
    except IntegrityError:
        winner = CouponBatch.objects.filter(enterprise_id=scope.enterprise_id, key=key).first()
        if winner is None:
            raise
        return _same_batch(winner, template_id)
    return batch


def _freeze_targets(batch: CouponBatch, customers: Any) -> int:
    ids_sql, params = customers.order_by().values("id").query.sql_with_params()
    table = connection.ops.quote_name(CouponBatchTarget._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} (batch_id, customer_id) SELECT %s, m.id FROM ({ids_sql}) m",  # noqa: S608
                       [batch.pk, *params])
        return max(0, cursor.rowcount)


def run_coupon_batch(*, batch_id: int) -> str:
    """Issue a queued batch, chunk by chunk in customer id order, its progress on the row after each chunk. Safe to
    run twice: a second run finds the batch claimed; a chunk repeated after a crash issues nobody twice (keys)."""
    claimed = leases.claim(CouponBatch, batch_id, queued=CouponBatchStatus.QUEUED, running=CouponBatchStatus.RUNNING,
                           started_at=timezone.now())
    if not claimed:
        return "skipped"
    batch = CouponBatch.objects.select_related("template").get(pk=batch_id)
    try:
        _check_issuable(batch.template, timezone.now())
        last = 0
        while True:
            upto = _chunk_end(batch.pk, last)
            if upto is None:
                break
            if _issue_chunk(batch, after=last, upto=upto):
                break  # sold out
            last = upto
    except DomainError as exc:
        _finish(batch, CouponBatchStatus.FAILED, exc.code)
        return "failed"
    except Exception as exc:  # noqa: BLE001  (the batch shows its failure; the chunks already issued stay issued)
        _finish(batch, CouponBatchStatus.FAILED, type(exc).__name__)
        raise
    _finish(batch, CouponBatchStatus.DONE, "")
    return "done"


def _enqueue_batch(batch_id: int) -> None:
    jobs.get(TASK_RUN_BATCH).enqueue(batch_id)


def requeue_lost_batches(*, now: datetime | None = None) -> leases.Requeued:
    """Batches whose worker died mid-run (lease expired) go back in the queue and run again from the first customer:
    those already issued are held (their keys), so only the progress counts start over; after a few lost workers a
    batch is stopped. Periodic (the promotions app registers it)."""
    outcome = leases.requeue_expired(CouponBatch, queued=CouponBatchStatus.QUEUED, running=CouponBatchStatus.RUNNING,
                                     failed=CouponBatchStatus.FAILED, now=now, reset={"done": 0, "skipped": 0})
    for batch_id in outcome.retried:
        transaction.on_commit(partial(_enqueue_batch, batch_id))
    return outcome


def _finish(batch: CouponBatch, status: str, error: str) -> None:
    CouponBatch.objects.filter(pk=batch.pk).update(status=status, error=error, finished_at=timezone.now())
    batch.refresh_from_db()
    audit.record(enterprise_id=batch.enterprise_id, actor=batch.created_by, action=f"coupon.issue_batch_{status}",
                 target_type="coupon_template", target_id=batch.template_id,
                 summary=f"{batch.template.name}: {batch.issued}/{batch.total}",
                 changes={"batch": batch.pk, "issued": batch.issued, "skipped": batch.skipped,
                          "sold_out": batch.sold_out, "error": error})


def _chunk_end(batch_id: int, after: int) -> int | None:
    """The last customer id of the next chunk (ids above `after`), or None when none are left."""
    rest = CouponBatchTarget.objects.filter(batch_id=batch_id, customer_id__gt=after).order_by("customer_id")
    edge = rest.values_list("customer_id", flat=True)[BATCH_CHUNK - 1:BATCH_CHUNK].first()
    if edge is not None:
        return int(edge)
    last = rest.order_by("-customer_id").values_list("customer_id", flat=True).first()
    return int(last) if last is not None else None


def _code_sql() -> str:
    """A random coupon code per row, made by the database (16 hex digits: 64 bits)."""
    if connection.vendor == "postgresql":
        return "upper(substr(replace(CAST(gen_random_uuid() AS text), '-', ''), 1, 16))"
    return "upper(hex(randomblob(8)))"


def _issue_chunk(batch: CouponBatch, *, after: int, upto: int) -> bool:
    """Issue to the batch's customers with ids in (after, upto]: one INSERT … SELECT of the coupons of those who are
    below the per-customer limit and have not had this batch's coupon, cut to the template's remaining stock (lowest
    ids first); then their quotas, the template's count, their coupon_issued events and the batch's progress, all in
    one transaction that holds the template row. Returns True when the stock ran out before everyone was served."""
    q = connection.ops.quote_name
    target, quota, coupon = (q(m._meta.db_table) for m in (CouponBatchTarget, CouponQuota, Coupon))
    with transaction.atomic():
        template = CouponTemplate.objects.select_for_update().get(pk=batch.template_id)
        moment = timezone.now()
        at = connection.ops.adapt_datetimefield_value(moment)
        valid_from, valid_until = (connection.ops.adapt_datetimefield_value(v) for v in _validity(template, moment))
        prefix = f"batch:{batch.pk}:{template.pk}:"
        in_range = "t.batch_id = %s AND t.customer_id > %s AND t.customer_id <= %s"
        has_key = (f"EXISTS (SELECT 1 FROM {coupon} x WHERE x.enterprise_id = %s "  # noqa: S608
                   "AND x.idempotency_key = %s || CAST(t.customer_id AS VARCHAR(20)))")
        eligible = (f"FROM {target} t LEFT JOIN {quota} qu ON qu.template_id = %s AND qu.customer_id = t.customer_id "
                    f"WHERE {in_range} AND COALESCE(qu.issued, 0) < %s AND NOT {has_key}")
        eligible_params: list[Any] = [template.pk, batch.pk, after, upto, template.per_customer_limit,
                                      batch.enterprise_id, prefix]
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {target} t WHERE {in_range}", [batch.pk, after, upto])  # noqa: S608
            seen = int(cursor.fetchone()[0])
            cursor.execute(f"SELECT count(*) FROM {target} t WHERE {in_range} AND {has_key}",  # noqa: S608
                           [batch.pk, after, upto, batch.enterprise_id, prefix])
            held = int(cursor.fetchone()[0])
            cursor.execute(f"SELECT count(*) {eligible}", eligible_params)  # noqa: S608
            wanted = int(cursor.fetchone()[0])
            stock = None if template.total_stock is None else max(0, template.total_stock - template.issued_count)
            take = wanted if stock is None else min(wanted, stock)
            if take:
                cursor.execute(
                    f"INSERT INTO {coupon} (enterprise_id, template_id, customer_id, code, status, source, "  # noqa: S608
                    "valid_from, valid_until, issued_at, used_at, order_id, idempotency_key, batch_id) "
                    f"SELECT %s, %s, t.customer_id, {_code_sql()}, %s, %s, %s, %s, %s, NULL, NULL, "
                    f"%s || CAST(t.customer_id AS VARCHAR(20)), %s {eligible} ORDER BY t.customer_id LIMIT %s",
                    [batch.enterprise_id, template.pk, CouponStatus.AVAILABLE.value, CouponSource.ISSUE.value,
                     valid_from, valid_until, at, prefix, batch.pk, *eligible_params, take])
                fresh = f"SELECT c.customer_id FROM {coupon} c WHERE c.batch_id = %s AND c.issued_at = %s"  # noqa: S608
                cursor.execute(f"INSERT INTO {quota} (template_id, customer_id, issued) "  # noqa: S608
                               f"SELECT %s, f.customer_id, 0 FROM ({fresh}) f WHERE 1 = 1 ON CONFLICT DO NOTHING",
                               [template.pk, batch.pk, at])
                cursor.execute(f"UPDATE {quota} SET issued = issued + 1 WHERE template_id = %s "  # noqa: S608
                               f"AND customer_id IN ({fresh})", [template.pk, batch.pk, at])
                CouponTemplate.objects.filter(pk=template.pk).update(issued_count=F("issued_count") + take)
                _batch_events(batch, template, moment)
        sold_out = take < wanted
        CouponBatch.objects.filter(pk=batch.pk).update(  # the progress is also the lease's heartbeat
            done=F("done") + seen, issued=F("issued") + take, skipped=F("skipped") + (seen - held - wanted),
            sold_out=sold_out, heartbeat_at=timezone.now())
    return sold_out


def _batch_events(batch: CouponBatch, template: CouponTemplate, moment: datetime) -> None:
    """coupon_issued for each coupon the chunk just inserted, in one set-based append."""
    occurred = _event_time(moment)
    rows = Coupon.objects.filter(batch_id=batch.pk, issued_at=moment).values_list("pk", "customer_id")
    append_events(enterprise_id=batch.enterprise_id, batch=[
        EventInput(name="coupon_issued", occurred_at=occurred, idempotency_key=f"coupon_issued:{pk}",
                   customer_id=customer_id,
                   properties={"coupon_id": pk, "template_id": template.pk, "name": template.name,
                               "source": CouponSource.ISSUE.value, "batch_id": batch.pk})
        for pk, customer_id in rows])
