"""Commissions and store settlement: rules (HQ), attribution and accrual when an order is paid, pro-rata reversal when
a line is refunded, and the monthly settlement of a store. The services of this slice of finance.

Attribution (`attribute`): the staff whose shared link carried the order (orders records it on the order as
`staff_id`) wins; otherwise the staff who owns the customer relationship (the customer's earliest active follow
relationship with an active staff member). The store is that staff member's store; without one, the order's store
(pickup or chosen store); without one, the customer's home store.

Posting rules (keys are the business facts, so a notify delivered twice posts once):

    sale:<line>                 SaleAccrual row per line (sales, commission, store, staff, rule)
    store-sale:order-<order>    Dr customer_prepaid   Cr sales_revenue      the lines' paid amount is earned
                                Dr sales_revenue      Cr store_receivable   credited to the attributed store
    commission:order-<order>    Dr commission_expense Cr staff_commission_payable  (the lines' commissions)
    refund:<out_refund_no>:<line>            SaleAccrual row with negative sales and commission
    store-sale-refund:<out_refund_no>        the store-sale legs swapped, for the refunded amount
    commission-refund:<out_refund_no>        the commission legs swapped, pro rata (cumulative, so a line refunded
                                             in any number of steps gives back exactly its commission)
    settlement:<store>:<YYYY-MM>:<currency>  Dr store_receivable  Cr bank   the month's net receivable paid out

Commission on a line: `percent` rules take rate_bp / 10,000 of the line's paid amount (floor); `fixed` rules take
fixed_fen per unit, never more than the line's paid amount. The most specific active rule valid on the payment's
Shanghai day wins: product, the line's category, its parent category, then the product's role.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_

from siyu.catalog.models import Category, Product, ProductRole
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.core.money import Money
from siyu.core.timeutil import local_day
from siyu.customers.models import Relationship, RelationshipStatus
from siyu.finance import commission_queries, ledger
from siyu.finance.commission_models import (
    AccrualKind,
    AttributionSource,
    CommissionRule,
    RuleBasis,
    RuleTarget,
    SaleAccrual,
    StoreSettlement,
)
from siyu.finance.ledger import Leg
from siyu.finance.models import Account, EntryKind
from siyu.orders.models import AfterSaleLine, Order, OrderLine, OrderStatus
from siyu.org.models import Staff, Store
from siyu.org.scope import Scope

MAX_RATE_BP = 10_000
MAX_FIXED_FEN = 10**9

# ---------------------------------------------------------------------------------------------------------------
# Rules (HQ finance / admin)


@dataclass(frozen=True)
class RuleInput:
    name: str
    target: str
    basis: str
    valid_from: date
    product_id: int | None = None
    category_id: int | None = None
    product_role: str = ""
    rate_bp: int = 0
    fixed_fen: int = 0
    valid_until: date | None = None
    currency: str = "CNY"


def _require_hq(scope: Scope) -> None:
    if not scope.is_hq:
        raise PermissionDenied(_("only HQ finance sets commission rules and settles stores"))


def _int_in(value: Any, low: int, high: int, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValidationFailed(
            _("a whole number %(low)s-%(high)s") % {"low": low, "high": high},
            field=field, code="invalid_amount",
        )
    return value


def _check_target(scope: Scope, data: RuleInput) -> dict[str, Any]:
    if data.target == RuleTarget.PRODUCT:
        if data.product_id is None:
            raise ValidationFailed(_("name the product"), field="product_id", code="required")
        if not Product.objects.filter(enterprise_id=scope.enterprise_id, pk=data.product_id).exists():
            raise NotFound(_("product %(product_id)s not found") % {"product_id": data.product_id}, field="product_id")
        return {"product_id": data.product_id, "category_id": None, "product_role": ""}
    if data.target == RuleTarget.CATEGORY:
        if data.category_id is None:
            raise ValidationFailed(_("name the category"), field="category_id", code="required")
        if not Category.objects.filter(enterprise_id=scope.enterprise_id, pk=data.category_id).exists():
            raise NotFound(
                _("category %(category_id)s not found") % {"category_id": data.category_id},
                field="category_id",
            )
        return {"product_id": None, "category_id": data.category_id, "product_role": ""}
    if data.target == RuleTarget.ROLE:
        if data.product_role not in ProductRole.values:
            raise ValidationFailed(_("the product role is traffic, profit or image"), field="product_role",
                                   code="unknown_product_role")
        return {"product_id": None, "category_id": None, "product_role": data.product_role}
    raise ValidationFailed(_("a rule applies to a product, a category or a product role"), field="target",
                           code="rule_target_required")


def _clean_rule(scope: Scope, data: RuleInput) -> dict[str, Any]:
    name = (data.name or "").strip()
    if not name or len(name) > 64:
        raise ValidationFailed(_("name the rule (1-64 characters)"), field="name", code="required")
    fields = _check_target(scope, data)
    if data.basis == RuleBasis.PERCENT:
        rate, fixed = _int_in(data.rate_bp, 1, MAX_RATE_BP, "rate_bp"), 0
    elif data.basis == RuleBasis.FIXED:
        rate, fixed = 0, _int_in(data.fixed_fen, 1, MAX_FIXED_FEN, "fixed_fen")
    else:
        raise ValidationFailed(_("the basis is percent or fixed"), field="basis", code="unknown_basis")
    if not isinstance(data.valid_from, date):
        raise ValidationFailed(_("a start date"), field="valid_from", code="required")
    if data.valid_until is not None and data.valid_until < data.valid_from:
        raise ValidationFailed(_("the rule ends before it starts"), field="valid_until", code="rule_ends_before_starts")
    currency = data.currency or "CNY"
    if len(currency) != 3 or not currency.isascii() or not currency.isupper():
        raise ValidationFailed(_("currency is an ISO 4217 code"), field="currency", code="currency_format")
    return {**fields, "name": name, "target": data.target, "basis": data.basis, "rate_bp": rate, "fixed_fen": fixed,
            "valid_from": data.valid_from, "valid_until": data.valid_until, "currency": currency}


def _no_overlap(scope: Scope, fields: dict[str, Any], exclude_id: int | None = None) -> None:
    """Two active rules on the same product (category, role) and currency may not cover the same day."""
    qs = CommissionRule.objects.filter(
        enterprise_id=scope.enterprise_id, is_active=True, target=fields["target"], currency=fields["currency"],
        product_id=fields["product_id"], category_id=fields["category_id"], product_role=fields["product_role"])
    if exclude_id is not None:
        qs = qs.exclude(pk=exclude_id)
    if fields["valid_until"] is not None:
        qs = qs.filter(valid_from__lte=fields["valid_until"])
    qs = qs.filter(Q(valid_until__isnull=True) | Q(valid_until__gte=fields["valid_from"]))
    clash = qs.first()
    if clash is not None:
        raise Conflict(
            _("rule %(pk)s (%(name)s) already covers these dates") % {"pk": clash.pk, "name": clash.name},
            field="valid_from", code="overlapping_rule",
        )


def _rule_changes(rule: CommissionRule) -> dict[str, Any]:
    return {"target": rule.target, "product_id": rule.product_id, "category_id": rule.category_id,
            "product_role": rule.product_role, "basis": rule.basis, "rate_bp": rule.rate_bp,
            "fixed_fen": rule.fixed_fen, "valid_from": rule.valid_from.isoformat(),
            "valid_until": rule.valid_until.isoformat() if rule.valid_until else None}


@transaction.atomic
def create_rule(*, scope: Scope, data: RuleInput, actor: Actor = None) -> CommissionRule:
    _require_hq(scope)
    fields = _clean_rule(scope, data)
    _no_overlap(scope, fields)
    rule = CommissionRule.objects.create(enterprise_id=scope.enterprise_id, **fields)
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="commission_rule.create",
                 target_type="commission_rule", target_id=rule.pk, summary=rule.name, changes=_rule_changes(rule))
    return rule


def _own_rule(scope: Scope, rule_id: int) -> CommissionRule:
    rule = CommissionRule.objects.select_for_update().filter(pk=rule_id, enterprise_id=scope.enterprise_id).first()
    if rule is None:
        raise NotFound(_("commission rule %(rule_id)s not found") % {"rule_id": rule_id}, field="rule_id")
    return rule


@transaction.atomic
def update_rule(*, scope: Scope, rule_id: int, data: RuleInput, actor: Actor = None) -> CommissionRule:
    """Change a rule. Commissions already accrued keep the amounts they were posted with (the ledger is
    append-only); the change applies to orders paid from now on."""
    _require_hq(scope)
    rule = _own_rule(scope, rule_id)
    if not rule.is_active:
        raise Conflict(_("this rule was deleted"), field="rule_id", code="rule_deleted")
    fields = _clean_rule(scope, data)
    _no_overlap(scope, fields, exclude_id=rule.pk)
    before = _rule_changes(rule)
    for name, value in fields.items():
        setattr(rule, name, value)
    rule.save()
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="commission_rule.update",
                 target_type="commission_rule", target_id=rule.pk, summary=rule.name,
                 changes={"before": before, "after": _rule_changes(rule)})
    return rule


@transaction.atomic
def delete_rule(*, scope: Scope, rule_id: int, actor: Actor = None) -> CommissionRule:
    """Retire a rule (it stays for the accruals that name it; no new order uses it). Deleting twice is a no-op."""
    _require_hq(scope)
    rule = _own_rule(scope, rule_id)
    if rule.is_active:
        rule.is_active = False
        rule.save(update_fields=["is_active", "updated_at"])
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="commission_rule.delete",
                     target_type="commission_rule", target_id=rule.pk, summary=rule.name)
    return rule


# ---------------------------------------------------------------------------------------------------------------
# Attribution and accrual


@dataclass(frozen=True)
class Attribution:
    store_id: int | None
    staff_id: int | None
    source: str


def attribute(order: Order) -> Attribution:
    """Who the sale belongs to (see the module docstring)."""
    staff: tuple[int, int | None] | None = None
    source = AttributionSource.NONE
    if order.staff_id is not None:
        row = Staff.objects.filter(pk=order.staff_id, enterprise_id=order.enterprise_id).values_list(
            "pk", "store_id").first()
        if row is not None:
            staff, source = row, AttributionSource.SHARED_LINK
    if staff is None and order.customer_id is not None:
        row = (Relationship.objects.filter(customer_id=order.customer_id, status=RelationshipStatus.ACTIVE,
                                           staff__is_active=True, staff__enterprise_id=order.enterprise_id)
               .order_by("added_at", "id").values_list("staff_id", "staff__store_id").first())
        if row is not None:
            staff, source = row, AttributionSource.RELATIONSHIP
    store_id = staff[1] if staff is not None else None
    if store_id is None:
        store_id = order.store_id
    if store_id is None and order.customer_id is not None:
        store_id = Order.objects.filter(pk=order.pk).values_list("customer__home_store_id", flat=True).first()
    if store_id is not None and not Store.objects.filter(pk=store_id, enterprise_id=order.enterprise_id).exists():
        store_id = None
    if staff is None and store_id is not None:
        source = AttributionSource.STORE
    return Attribution(store_id=store_id, staff_id=staff[0] if staff is not None else None, source=source)


@dataclass(frozen=True)
class _LineFacts:
    line_id: int
    product_id: int | None
    category_ids: tuple[int, ...]  # the line's category, then its parent
    role: str
    quantity: int
    payable_fen: int


def _line_facts(order_id: int) -> list[_LineFacts]:
    lines = list(OrderLine.objects.filter(order_id=order_id).order_by("index").values_list(
        "pk", "product_id", "category_id", "quantity", "payable_fen"))
    product_ids = {x[1] for x in lines if x[1] is not None}
    roles = dict(Product.objects.filter(pk__in=product_ids).values_list("pk", "role"))
    parents = dict(Category.objects.filter(pk__in={x[2] for x in lines if x[2] is not None}).values_list(
        "pk", "parent_id"))
    out = []
    for pk, product_id, category_id, quantity, payable in lines:
        chain = tuple(c for c in (category_id, parents.get(category_id) if category_id else None) if c is not None)
        out.append(_LineFacts(pk, product_id, chain, roles.get(product_id, "") if product_id else "", quantity,
                              payable))
    return out


def rules_on(enterprise_id: int, currency: str, day: date) -> list[CommissionRule]:
    return list(CommissionRule.objects.filter(
        Q(valid_until__isnull=True) | Q(valid_until__gte=day), enterprise_id=enterprise_id, is_active=True,
        currency=currency, valid_from__lte=day).order_by("-valid_from", "-id"))


def pick_rule(rules: list[CommissionRule], line: _LineFacts) -> CommissionRule | None:
    """The most specific rule for the line: product, category (nearest first), product role."""
    for rule in rules:
        if rule.target == RuleTarget.PRODUCT and line.product_id is not None and rule.product_id == line.product_id:
            return rule
    for category_id in line.category_ids:
        for rule in rules:
            if rule.target == RuleTarget.CATEGORY and rule.category_id == category_id:
                return rule
    for rule in rules:
        if rule.target == RuleTarget.ROLE and line.role and rule.product_role == line.role:
            return rule
    return None


def commission_for(rule: CommissionRule | None, *, quantity: int, payable_fen: int) -> int:
    if rule is None or payable_fen <= 0:
        return 0
    if rule.basis == RuleBasis.PERCENT:
        return payable_fen * rule.rate_bp // MAX_RATE_BP
    return min(rule.fixed_fen * quantity, payable_fen)


def accrue_order(*, order_id: int, at: datetime, order: Order | None = None) -> int:
    """Attribute a paid order's lines and post their sales and commissions (inside the payment's transaction).
    Nothing for an order that is not (fully) paid yet (a presale after its deposit); once per order whatever
    calls it again. One accrual row per line; two entries per order (every line shares the order's store and
    staff, so each entry has one leg per account pair however many lines). Returns the number of lines accrued."""
    if order is None or order.pk != order_id:  # the caller's fresh row (just marked paid) saves reading it again
        order = Order.objects.filter(pk=order_id).first()
    if order is None or order.status != OrderStatus.PAID:
        return 0
    if SaleAccrual.objects.filter(order_id=order.pk, kind=AccrualKind.SALE).exists():
        return 0
    who = attribute(order)
    rules = rules_on(order.enterprise_id, order.currency, local_day(at))
    rows = []
    for line in _line_facts(order.pk):
        rule = pick_rule(rules, line)
        commission = commission_for(rule, quantity=line.quantity, payable_fen=line.payable_fen)
        if who.staff_id is None:
            commission, rule = 0, None  # nobody to pay it to
        rows.append(SaleAccrual(
            enterprise_id=order.enterprise_id, key=f"sale:{line.line_id}", kind=AccrualKind.SALE, order_id=order.pk,
            order_line_id=line.line_id, store_id=who.store_id, staff_id=who.staff_id, source=who.source,
            rule=rule if commission else None, quantity=line.quantity, sales_fen=line.payable_fen,
            commission_fen=commission, currency=order.currency, posted_at=at))
    # All or nothing with the caller's transaction when there is one (the payment's): no savepoint of its own then.
    with transaction.atomic(savepoint=False):
        entry_id = _post_sale_entries(order, who, sum(r.sales_fen for r in rows),
                                      sum(r.commission_fen for r in rows), at)
        for row in rows:
            row.entry_id = entry_id
        SaleAccrual.objects.bulk_create(rows)
    return len(rows)


def _post_sale_entries(order: Order, who: Attribution, sales: int, commission: int, at: datetime) -> int | None:
    legs = [Leg(Account.CUSTOMER_PREPAID, Account.SALES_REVENUE, sales, who.store_id, who.staff_id)]
    if who.store_id is not None:
        legs.append(Leg(Account.SALES_REVENUE, Account.STORE_RECEIVABLE, sales, who.store_id, who.staff_id))
    specs = [ledger.EntrySpec(EntryKind.SETTLEMENT, f"store-sale:order-{order.pk}", legs, f"{order.order_no} sale")]
    if commission:
        specs.append(ledger.EntrySpec(
            EntryKind.COMMISSION, f"commission:order-{order.pk}",
            [Leg(Account.COMMISSION_EXPENSE, Account.STAFF_COMMISSION_PAYABLE, commission, who.store_id,
                 who.staff_id)], f"{order.order_no} commission"))
    posted = ledger.post_entries(enterprise_id=order.enterprise_id, currency=order.currency, order_id=order.pk,
                                 posted_at=at, specs=specs)
    entry = posted[-1]
    return entry.pk if entry is not None else None


def reverse_for_refund(*, after_sale_id: int, refund_key: str, at: datetime) -> int:
    """Give back the refunded lines' sales and their share of commission (inside the refund's transaction, after
    orders has recorded the refund). Keyed by the refund: running it again changes nothing."""
    lines = list(AfterSaleLine.objects.filter(after_sale_id=after_sale_id).values_list(
        "order_line_id", "quantity", "amount_fen"))
    if not lines:
        return 0
    sales = {s.order_line_id: s for s in SaleAccrual.objects.filter(
        kind=AccrualKind.SALE, order_line_id__in=[x[0] for x in lines])}
    if not sales:
        return 0  # paid before commissions were accrued (or never through finance): nothing to give back
    first = next(iter(sales.values()))
    keys = [f"refund:{refund_key}:{line_id}" for line_id, _q, _a in lines]
    if SaleAccrual.objects.filter(enterprise_id=first.enterprise_id, key__in=keys).exists():
        return 0
    done: dict[int, Mapping[str, Any]] = {row["order_line_id"]: row for row in SaleAccrual.objects.filter(
        kind=AccrualKind.REFUND, order_line_id__in=list(sales)).values("order_line_id").annotate(
        sales=Sum("sales_fen"), commission=Sum("commission_fen")).order_by()}
    rows = []
    sale_legs: _Legs = defaultdict(int)
    commission_legs: _Legs = defaultdict(int)
    for line_id, quantity, amount in lines:
        sale = sales.get(line_id)
        if sale is None or amount <= 0:
            continue
        before = -int(done.get(line_id, {}).get("sales") or 0)
        given = -int(done.get(line_id, {}).get("commission") or 0)
        after = min(before + amount, sale.sales_fen)
        back = amount if after < sale.sales_fen else sale.sales_fen - before
        target = sale.commission_fen if after >= sale.sales_fen else sale.commission_fen * after // sale.sales_fen
        commission_back = max(0, target - given)
        if back <= 0:
            continue
        sale_legs[(sale.store_id, sale.staff_id)] += back
        commission_legs[(sale.store_id, sale.staff_id)] += commission_back
        rows.append(SaleAccrual(
            enterprise_id=sale.enterprise_id, key=f"refund:{refund_key}:{line_id}", kind=AccrualKind.REFUND,
            order_id=sale.order_id, order_line_id=line_id, store_id=sale.store_id, staff_id=sale.staff_id,
            source=sale.source, rule_id=sale.rule_id, quantity=-quantity, sales_fen=-back,
            commission_fen=-commission_back, currency=sale.currency, posted_at=at))
    if not rows:
        return 0
    with transaction.atomic():
        entry_id = _post_refund_entries(first, refund_key, sale_legs, commission_legs, at)
        for row in rows:
            row.entry_id = entry_id
        SaleAccrual.objects.bulk_create(rows)
    return len(rows)


_Legs = dict[tuple[int | None, int | None], int]


def _post_refund_entries(first: SaleAccrual, refund_key: str, sale_legs: _Legs, commission_legs: _Legs,
                         at: datetime) -> int | None:
    legs = []
    for (store_id, staff_id), amount in sale_legs.items():
        if store_id is not None:
            legs.append(Leg(Account.STORE_RECEIVABLE, Account.SALES_REVENUE, amount, store_id, staff_id))
        legs.append(Leg(Account.SALES_REVENUE, Account.CUSTOMER_PREPAID, amount, store_id, staff_id))
    entry = ledger.post_entry(enterprise_id=first.enterprise_id, kind=EntryKind.SETTLEMENT,
                              key=f"store-sale-refund:{refund_key}", currency=first.currency, legs=legs,
                              memo="refund", order_id=first.order_id, posted_at=at)
    back = ledger.post_entry(
        enterprise_id=first.enterprise_id, kind=EntryKind.COMMISSION, key=f"commission-refund:{refund_key}",
        currency=first.currency, order_id=first.order_id, posted_at=at, memo="commission given back",
        legs=[Leg(Account.STAFF_COMMISSION_PAYABLE, Account.COMMISSION_EXPENSE, amount, store_id, staff_id)
              for (store_id, staff_id), amount in commission_legs.items()])
    chosen = back or entry
    return chosen.pk if chosen is not None else None


# ---------------------------------------------------------------------------------------------------------------
# Settlement


def settle_store_month(*, scope: Scope, store_id: int, month: date, currency: str = "CNY", actor: Actor = None,
                       now: datetime | None = None) -> StoreSettlement:
    """Pay a store its receivable for one Shanghai month (what its sales, refunds and subsidies moved in that month):
    once per store per month; asking again returns the first settlement. Only a month that is over."""
    _require_hq(scope)
    moment = now or timezone.now()
    if not Store.objects.filter(pk=store_id, enterprise_id=scope.enterprise_id).exists():
        raise NotFound(_("store %(store_id)s not found") % {"store_id": store_id}, field="store_id")
    first_day = commission_queries.first_of_month(month)
    _start, end = commission_queries.month_bounds(first_day)
    if end > moment:
        raise Conflict(_("a month is settled once it is over"), field="month", code="month_not_over")
    existing = StoreSettlement.objects.filter(enterprise_id=scope.enterprise_id, store_id=store_id,
                                              month=first_day, currency=currency).first()
    if existing is not None:
        return existing
    figures = commission_queries.store_month_figures(scope.enterprise_id, store_id, first_day, currency)
    amount = figures.receivable_fen
    legs = ([Leg(Account.STORE_RECEIVABLE, Account.BANK, amount, store_id)] if amount > 0
            else [Leg(Account.BANK, Account.STORE_RECEIVABLE, -amount, store_id)])
    key = f"settlement:{store_id}:{first_day:%Y-%m}:{currency}"
    try:
        with transaction.atomic():
            entry = ledger.post_entry(enterprise_id=scope.enterprise_id, kind=EntryKind.SETTLEMENT, key=key,
                                      currency=currency, legs=legs, memo=f"store {store_id} {first_day:%Y-%m}",
                                      posted_at=moment, actor=actor)
            settlement = StoreSettlement.objects.create(
                enterprise_id=scope.enterprise_id, store_id=store_id, month=first_day, currency=currency,
                sales_fen=figures.sales_fen, refunds_fen=figures.refunds_fen, amount_fen=amount,
                entry_id=entry.pk if entry else None, settled_at=moment, settled_by=audit.user_of(actor))
            audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="store.settle",
                         target_type="store", target_id=store_id,
                         summary=audit.text(N_("%(month)s: %(amount)s"), month=f"{first_day:%Y-%m}",
                                            amount=Money(amount, currency).display()),
                         changes={"month": f"{first_day:%Y-%m}", "amount_fen": amount, "currency": currency})
            return settlement
    except IntegrityError:
        winner = StoreSettlement.objects.filter(enterprise_id=scope.enterprise_id, store_id=store_id,
                                                month=first_day, currency=currency).first()
        if winner is None:
            raise
        return winner
