from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from siyu.core.errors import Conflict, NotFound, ValidationFailed
from siyu.core.money import Money
from siyu.customers.models import Customer, Event
from siyu.customers.services import merge_customers
from siyu.org.scope import Scope, scope_for_staff
from siyu.promotions import queries, services
from siyu.promotions.models import Coupon, CouponQuota, CouponTemplate
from siyu.promotions.services import CouponTemplateInput
from tests.conftest import Org
from tests.factories import CustomerFactory

# 2026-06-01 10:00 in Shanghai.
ISSUED = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def hq(org: Org) -> Scope:
    return scope_for_staff(org.hq)


def _template(hq: Scope, **changes: object) -> CouponTemplate:
    data = CouponTemplateInput(name="满99减20", kind="threshold", amount_off=Money(2000), threshold=Money(9900),
                               valid_days=7, per_customer_limit=2)
    return services.create_coupon_template(scope=hq, data=replace(data, **changes))  # type: ignore[arg-type]


def _issue(hq: Scope, template: CouponTemplate, customer: Customer, key: str, **kw: object) -> Coupon:
    return services.issue_coupon(enterprise_id=hq.enterprise_id, template_id=template.pk, customer_id=customer.pk,
                                 idempotency_key=key, now=kw.pop("now", ISSUED), **kw)  # type: ignore[arg-type]


@pytest.fixture
def alice(org: Org) -> Customer:
    return CustomerFactory.create(enterprise=org.enterprise, name="Alice")


@pytest.fixture
def bob(org: Org) -> Customer:
    return CustomerFactory.create(enterprise=org.enterprise, name="Bob")


# ---------------------------------------------------------------------------------------------------------------
# Templates


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"name": " "}, "required", "name"),
        ({"amount_off": Money(9900)}, "amount_above_threshold", "amount_off"),
        ({"threshold": None}, "required", "threshold"),
        ({"kind": "percent", "percent_off": 100}, "invalid_percent", "percent_off"),
        ({"kind": "fixed", "amount_off": Money(-1)}, "negative_price", "amount_off"),
        ({"scope": "products", "product_ids": []}, "required", "product_ids"),
        ({"validity_kind": "fixed", "valid_from": ISSUED, "valid_until": ISSUED}, "invalid_window", "valid_until"),
        ({"valid_days": 0}, "required", "valid_days"),
    ],
)
def test_bad_templates(hq: Scope, changes: dict[str, object], code: str, field: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        _template(hq, **changes)
    assert (info.value.code, info.value.field) == (code, field)
    assert CouponTemplate.objects.count() == 0


def test_what_a_template_is_worth_is_locked_once_issued(hq: Scope, alice: Customer) -> None:
    template = _template(hq)
    data = CouponTemplateInput(name="满99减25", kind="threshold", amount_off=Money(2500), threshold=Money(9900),
                               valid_days=7, per_customer_limit=2)
    services.update_coupon_template(scope=hq, template_id=template.pk, data=data)  # nobody holds one yet
    _issue(hq, template, alice, "k1")
    with pytest.raises(Conflict) as info:
        services.update_coupon_template(scope=hq, template_id=template.pk, data=replace(data, amount_off=Money(3000)))
    assert info.value.code == "template_in_use"
    renamed = services.update_coupon_template(scope=hq, template_id=template.pk, data=replace(data, name="新名"))
    assert (renamed.name, renamed.amount_off_fen) == ("新名", 2500)


# ---------------------------------------------------------------------------------------------------------------
# Issue and claim


def test_issue_is_idempotent_by_key(hq: Scope, alice: Customer, bob: Customer) -> None:
    template = _template(hq)
    first = _issue(hq, template, alice, "welcome:alice")
    again = _issue(hq, template, alice, "welcome:alice")
    assert first.pk == again.pk
    assert Coupon.objects.count() == 1
    template.refresh_from_db()
    assert template.issued_count == 1
    with pytest.raises(Conflict) as info:
        _issue(hq, template, bob, "welcome:alice")
    assert info.value.code == "idempotency_key_reused"


def test_relative_validity_runs_to_the_end_of_the_nth_shanghai_day(hq: Scope, alice: Customer) -> None:
    coupon = _issue(hq, _template(hq), alice, "k")
    # Issued 2026-06-01 10:00 Shanghai, 7 days: day 1 is June 1, day 7 is June 7 → until June 8 00:00 Shanghai,
    # which is 2026-06-07 16:00 UTC.
    assert coupon.valid_from == ISSUED
    assert coupon.valid_until == datetime(2026, 6, 7, 16, 0, tzinfo=UTC)


def test_fixed_validity_is_copied(hq: Scope, alice: Customer) -> None:
    start, end = datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC)
    coupon = _issue(hq, _template(hq, validity_kind="fixed", valid_from=start, valid_until=end), alice, "k")
    assert (coupon.valid_from, coupon.valid_until) == (start, end)
    late = _template(hq, name="过期", validity_kind="fixed", valid_from=start, valid_until=ISSUED)
    with pytest.raises(ValidationFailed) as info:
        _issue(hq, late, alice, "k2")
    assert info.value.code == "coupon_expired"


def test_per_customer_limit_and_total_stock(hq: Scope, alice: Customer, bob: Customer) -> None:
    template = _template(hq, per_customer_limit=2, total_stock=3)
    _issue(hq, template, alice, "a1")
    _issue(hq, template, alice, "a2")
    with pytest.raises(Conflict) as info:
        _issue(hq, template, alice, "a3")
    assert info.value.code == "coupon_limit_reached"
    _issue(hq, template, bob, "b1")
    with pytest.raises(Conflict) as info2:
        _issue(hq, template, bob, "b2")
    assert info2.value.code == "coupon_sold_out"
    template.refresh_from_db()
    assert (template.issued_count, Coupon.objects.count()) == (3, 3)
    assert CouponQuota.objects.get(template=template, customer=alice).issued == 2


def test_issue_refuses_bad_input_and_writes_nothing(hq: Scope, org: Org, alice: Customer) -> None:
    template = _template(hq)
    with pytest.raises(NotFound):
        services.issue_coupon(enterprise_id=hq.enterprise_id, template_id=template.pk, customer_id=999_999,
                              idempotency_key="x")
    paused = _template(hq, name="停用", is_active=False)
    with pytest.raises(ValidationFailed) as info:
        _issue(hq, paused, alice, "y")
    assert info.value.code == "template_inactive"
    with pytest.raises(ValidationFailed):
        _issue(hq, template, alice, "")
    assert Coupon.objects.count() == 0
    template.refresh_from_db()
    assert template.issued_count == 0


def test_issue_writes_the_event(hq: Scope, alice: Customer) -> None:
    template = _template(hq)
    coupon = _issue(hq, template, alice, "k")
    event = Event.objects.get(customer=alice, name="coupon_issued")
    assert event.properties["coupon_id"] == coupon.pk
    assert (event.properties["template_id"], event.properties["source"]) == (template.pk, "issue")


def test_claim_needs_a_claimable_template(hq: Scope, alice: Customer) -> None:
    closed = _template(hq)
    with pytest.raises(ValidationFailed) as info:
        services.claim_coupon(enterprise_id=hq.enterprise_id, template_id=closed.pk, customer_id=alice.pk,
                              idempotency_key="c1", now=ISSUED)
    assert info.value.code == "not_claimable"
    open_ = _template(hq, name="领券中心", claimable=True)
    coupon = services.claim_coupon(enterprise_id=hq.enterprise_id, template_id=open_.pk, customer_id=alice.pk,
                                   idempotency_key="c2", now=ISSUED)
    assert coupon.source == "claim"
    assert [t.pk for t in queries.claimable_templates(enterprise_id=hq.enterprise_id, now=ISSUED)] == [open_.pk]


# ---------------------------------------------------------------------------------------------------------------
# Use, return, expire


def test_use_locks_a_coupon_to_one_order(hq: Scope, alice: Customer, bob: Customer) -> None:
    coupon = _issue(hq, _template(hq), alice, "k")
    used = services.use_coupon(enterprise_id=hq.enterprise_id, coupon_id=coupon.pk, customer_id=alice.pk,
                               order_id=41, now=ISSUED)
    assert (used.status, used.order_id) == ("used", 41)
    again = services.use_coupon(enterprise_id=hq.enterprise_id, coupon_id=coupon.pk, customer_id=alice.pk,
                                order_id=41, now=ISSUED)
    assert again.order_id == 41
    with pytest.raises(Conflict) as info:
        services.use_coupon(enterprise_id=hq.enterprise_id, coupon_id=coupon.pk, customer_id=alice.pk, order_id=42,
                            now=ISSUED)
    assert info.value.code == "coupon_used"
    assert Event.objects.filter(customer=alice, name="coupon_used").count() == 1


@pytest.mark.parametrize(
    ("who", "moment", "code"),
    [("bob", ISSUED, "coupon_not_owned"), ("alice", ISSUED + timedelta(days=8), "coupon_expired")],
)
def test_use_refuses(hq: Scope, alice: Customer, bob: Customer, who: str, moment: datetime, code: str) -> None:
    coupon = _issue(hq, _template(hq), alice, "k")
    customer = {"alice": alice, "bob": bob}[who]
    with pytest.raises(ValidationFailed) as info:
        services.use_coupon(enterprise_id=hq.enterprise_id, coupon_id=coupon.pk, customer_id=customer.pk,
                            order_id=7, now=moment)
    assert info.value.code == code
    coupon.refresh_from_db()
    assert coupon.status == "available"


def test_return_on_refund(hq: Scope, alice: Customer) -> None:
    template = _template(hq)
    coupon = _issue(hq, template, alice, "k")
    services.use_coupon(enterprise_id=hq.enterprise_id, coupon_id=coupon.pk, customer_id=alice.pk, order_id=5,
                        now=ISSUED)
    other = services.return_coupon(enterprise_id=hq.enterprise_id, coupon_id=coupon.pk, order_id=6, now=ISSUED)
    assert other.status == "used"  # not this order's coupon: left alone
    back = services.return_coupon(enterprise_id=hq.enterprise_id, coupon_id=coupon.pk, order_id=5, now=ISSUED)
    assert (back.status, back.order_id) == ("available", None)
    services.return_coupon(enterprise_id=hq.enterprise_id, coupon_id=coupon.pk, order_id=5, now=ISSUED)
    assert Event.objects.filter(customer=alice, name="coupon_returned").count() == 1
    # Used again, then refunded after it ran out: it comes back expired.
    later = _issue(hq, template, alice, "k2")
    services.use_coupon(enterprise_id=hq.enterprise_id, coupon_id=later.pk, customer_id=alice.pk, order_id=8,
                        now=ISSUED)
    gone = services.return_coupon(enterprise_id=hq.enterprise_id, coupon_id=later.pk, order_id=8,
                                  now=ISSUED + timedelta(days=30))
    assert gone.status == "expired"


def test_expire_coupons(hq: Scope, alice: Customer, bob: Customer) -> None:
    template = _template(hq)
    old = _issue(hq, template, alice, "old", now=ISSUED - timedelta(days=10))
    fresh = _issue(hq, template, bob, "fresh")
    used = _issue(hq, template, bob, "used", now=ISSUED - timedelta(days=10))
    services.use_coupon(enterprise_id=hq.enterprise_id, coupon_id=used.pk, customer_id=bob.pk, order_id=3,
                        now=ISSUED - timedelta(days=9))
    assert services.expire_coupons(now=ISSUED) == 1
    assert services.expire_coupons(now=ISSUED) == 0
    statuses = dict(Coupon.objects.values_list("pk", "status"))
    assert statuses == {old.pk: "expired", fresh.pk: "available", used.pk: "used"}
    assert list(Event.objects.filter(name="coupon_expired").values_list("customer_id", flat=True)) == [alice.pk]


def test_coupons_follow_a_merged_customer(hq: Scope, org: Org, alice: Customer, bob: Customer) -> None:
    template = _template(hq, per_customer_limit=3)
    _issue(hq, template, alice, "a")
    _issue(hq, template, bob, "b1")
    _issue(hq, template, bob, "b2")
    merge_customers(survivor=alice, absorbed=bob, reason="test")
    assert Coupon.objects.filter(customer=alice).count() == 3
    # Alice's quota now counts all three coupons she holds: a fourth is refused.
    assert CouponQuota.objects.get(template=template, customer=alice).issued == 3
    assert not CouponQuota.objects.filter(customer=bob).exists()
    with pytest.raises(Conflict):
        _issue(hq, template, alice, "a4")


def test_coupon_reads_are_scoped(hq: Scope, org: Org, alice: Customer) -> None:
    coupon = _issue(hq, _template(hq), alice, "k")
    assert [c.pk for c in queries.search_coupons(hq).items] == [coupon.pk]
    stranger = scope_for_staff(org.s1_staff)  # follows nobody
    assert queries.search_coupons(stranger).items == []
