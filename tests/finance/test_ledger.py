"""The ledger: balanced by construction and refused otherwise by the database, append-only, idempotent per business
fact, corrected only by reversing entries; balances derived; random sequences of business facts keep the books
balanced and every account equal to what the facts say it should be (computed here independently)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from django.db import DatabaseError, IntegrityError, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siyu.core.errors import Conflict, PermissionDenied, ValidationFailed
from siyu.core.models import AuditEntry
from siyu.finance import ledger, queries
from siyu.finance.ledger import Fact, Leg
from siyu.finance.models import Account, JournalEntry, LedgerTransfer
from siyu.org.models import Enterprise
from siyu.org.scope import Scope
from tests.conftest import Org

pytestmark = pytest.mark.django_db
_SEQ = itertools.count()
T0 = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)


def _hq(enterprise_id: int) -> Scope:
    return Scope.hq(enterprise_id, label="finance-test")


def _balances(enterprise_id: int, currency: str = "CNY") -> dict[str, int]:
    return {r.account: r.balance_fen for r in queries.trial_balance(_hq(enterprise_id)).rows if r.currency == currency}


def test_the_database_refuses_a_leg_that_does_not_balance(org: Org) -> None:
    entry = ledger.post_entry(enterprise_id=org.enterprise.pk, kind="payment", key="k1", currency="CNY",
                              legs=[Leg(Account.PLATFORM_CLEARING, Account.CUSTOMER_PREPAID, 100)])
    assert entry is not None
    bad = [
        {"debit_account": Account.BANK, "credit_account": Account.BANK, "amount_fen": 5},
        {"debit_account": Account.BANK, "credit_account": Account.FEES, "amount_fen": 0},
        {"debit_account": Account.BANK, "credit_account": Account.FEES, "amount_fen": -5},
        {"debit_account": "cash_in_my_pocket", "credit_account": Account.FEES, "amount_fen": 5},
        {"debit_account": Account.BANK, "credit_account": "", "amount_fen": 5},
    ]
    for row in bad:
        with pytest.raises(IntegrityError), transaction.atomic():
            LedgerTransfer.objects.create(entry=entry, enterprise_id=org.enterprise.pk, currency="CNY",
                                          posted_at=T0, **row)
    assert LedgerTransfer.objects.count() == 1


def test_posted_rows_cannot_be_changed(org: Org) -> None:
    entry = ledger.post_entry(enterprise_id=org.enterprise.pk, kind="payment", key="k1", currency="CNY",
                              legs=[Leg(Account.PLATFORM_CLEARING, Account.CUSTOMER_PREPAID, 100)])
    assert entry is not None
    with pytest.raises(DatabaseError), transaction.atomic():
        LedgerTransfer.objects.filter(entry=entry).update(amount_fen=1)
    with pytest.raises(DatabaseError), transaction.atomic():
        JournalEntry.objects.filter(pk=entry.pk).update(memo="rewritten")
    assert LedgerTransfer.objects.get(entry=entry).amount_fen == 100


def test_a_fact_posts_once_and_its_key_cannot_carry_other_amounts(org: Org) -> None:
    fact = Fact(enterprise_id=org.enterprise.pk, currency="CNY", order_id=7)
    first = ledger.post_payment(fact, key="payment:A1", amount_fen=990, at=T0)
    again = ledger.post_payment(fact, key="payment:A1", amount_fen=990, at=T0 + timedelta(hours=1))
    assert first is not None and again is not None and first.pk == again.pk
    with pytest.raises(Conflict):
        ledger.post_payment(fact, key="payment:A1", amount_fen=991, at=T0)
    assert _balances(org.enterprise.pk) == {Account.PLATFORM_CLEARING: 990, Account.CUSTOMER_PREPAID: 990}


def test_bad_legs_are_refused_with_a_field_and_nothing_is_written(org: Org) -> None:
    cases = [
        [Leg(Account.BANK, Account.BANK, 1)],
        [Leg(Account.BANK, Account.FEES, -1)],
        [Leg(Account.BANK, "nope", 1)],
        [Leg(Account.BANK, Account.FEES, 1), Leg(Account.BANK, Account.FEES, 1.5)],  # type: ignore[arg-type]
    ]
    for legs in cases:
        with pytest.raises(ValidationFailed) as caught:
            ledger.post_entry(enterprise_id=org.enterprise.pk, kind="fee", key="bad", currency="CNY", legs=legs)
        assert caught.value.field and caught.value.field.startswith("legs[")
    with pytest.raises(ValidationFailed):
        ledger.post_entry(enterprise_id=org.enterprise.pk, kind="fee", key="bad", currency="cny",
                          legs=[Leg(Account.BANK, Account.FEES, 1)])
    assert JournalEntry.objects.count() == 0
    assert ledger.post_entry(enterprise_id=org.enterprise.pk, kind="fee", key="zero", currency="CNY",
                             legs=[Leg(Account.BANK, Account.FEES, 0)]) is None


def test_a_correction_is_a_reversing_entry_posted_once_and_audited(org: Org) -> None:
    scope = _hq(org.enterprise.pk)
    fact = Fact(enterprise_id=org.enterprise.pk, currency="CNY", order_id=1, store_id=org.store_n1.pk,
                staff_id=org.n1_staff.pk)
    ledger.post_payment(fact, key="payment:P1", amount_fen=10_000, at=T0)
    wrong = ledger.post_commission(fact, key="commission:P1", amount_fen=700, at=T0)
    assert wrong is not None
    reversal = ledger.reverse_entry(scope=scope, entry_id=wrong.pk, reason="wrong rate")
    assert ledger.reverse_entry(scope=scope, entry_id=wrong.pk, reason="again").pk == reversal.pk
    with pytest.raises(Conflict):
        ledger.reverse_entry(scope=scope, entry_id=reversal.pk, reason="undo the undo")
    with pytest.raises(ValidationFailed):
        ledger.reverse_entry(scope=scope, entry_id=wrong.pk, reason=" ")
    balances = _balances(org.enterprise.pk)
    assert balances[Account.COMMISSION_EXPENSE] == 0 and balances[Account.STAFF_COMMISSION_PAYABLE] == 0
    assert balances[Account.PLATFORM_CLEARING] == 10_000
    assert LedgerTransfer.objects.filter(entry=wrong).get().amount_fen == 700  # the original stays as it was
    assert AuditEntry.objects.filter(action="ledger.reverse", target_id=str(wrong.pk)).count() == 1


def test_only_hq_reads_or_corrects_the_books(org: Org) -> None:
    from siyu.org.scope import scope_for_staff

    for staff in (org.north_manager, org.n1_manager, org.n1_staff):
        scope = scope_for_staff(staff)
        with pytest.raises(PermissionDenied):
            queries.trial_balance(scope)
        with pytest.raises(PermissionDenied):
            ledger.reverse_entry(scope=scope, entry_id=1, reason="x")


def test_statement_running_balance_and_pages_agree_with_a_hand_computed_ledger(org: Org) -> None:
    fact = Fact(enterprise_id=org.enterprise.pk, currency="CNY")
    amounts = [1000, 250, 3000, 75, 1200]
    for i, amount in enumerate(amounts):
        ledger.post_payment(fact, key=f"payment:S{i}", amount_fen=amount, at=T0 + timedelta(days=i))
    ledger.post_refund(fact, key="refund:S0", amount_fen=400, at=T0 + timedelta(days=2, hours=1))
    ledger.post_fee(fact, key="fee:S0", amount_fen=6, at=T0 + timedelta(days=3, hours=1))
    # Clearing in time order: +1000, +250, +3000, -400, +75, -6, +1200
    running = [1000, 1250, 4250, 3850, 3925, 3919, 5119]
    scope = _hq(org.enterprise.pk)
    seen = []
    for page in (1, 2, 3):
        st_ = queries.account_statement(scope, Account.PLATFORM_CLEARING, page=page, page_size=3)
        seen += [line.balance_fen for line in st_.lines]
        assert st_.closing_fen == 5119 and st_.pages == 3
    assert seen == running
    window = queries.account_statement(scope, Account.PLATFORM_CLEARING, start=T0 + timedelta(days=2),
                                       end=T0 + timedelta(days=4))
    assert window.opening_fen == 1250
    assert [x.balance_fen for x in window.lines] == [4250, 3850, 3925, 3919]
    assert window.closing_fen == 3919


# ---------------------------------------------------------------------------------------------------------------
# Property: random sequences of business facts


_OP = st.one_of(
    st.tuples(st.just("pay"), st.integers(0, 3), st.integers(1, 500_000)),
    st.tuples(st.just("partial_refund"), st.integers(0, 3), st.integers(1, 99)),
    st.tuples(st.just("full_refund"), st.integers(0, 3), st.just(0)),
    st.tuples(st.just("commission"), st.integers(0, 3), st.integers(1, 20)),
    st.tuples(st.just("settle"), st.integers(0, 3), st.integers(0, 100)),
    st.tuples(st.just("fee"), st.integers(0, 3), st.integers(1, 60)),
    st.tuples(st.just("subsidy"), st.integers(0, 3), st.integers(1, 5000)),
)


class _Books:
    """What each account must hold after the facts, kept by plain arithmetic on the facts (not by the ledger)."""

    def __init__(self) -> None:
        self.paid: dict[int, int] = defaultdict(int)
        self.refunded: dict[int, int] = defaultdict(int)
        self.settled: dict[int, int] = defaultdict(int)
        self.commission: dict[int, int] = defaultdict(int)
        self.expected: dict[str, int] = defaultdict(int)

    def open_fen(self, order: int) -> int:
        return self.paid[order] - self.refunded[order] - self.settled[order]


def _apply(books: _Books, fact: Fact, n: int, op: tuple[str, int, int]) -> None:  # noqa: C901 - one branch per fact
    kind, order, x = op
    at = T0 + timedelta(minutes=n)
    e = books.expected
    if kind == "pay":
        ledger.post_payment(fact, key=f"payment:{n}", amount_fen=x, at=at)
        books.paid[order] += x
        e[Account.PLATFORM_CLEARING] += x
        e[Account.CUSTOMER_PREPAID] += x
    elif kind in ("partial_refund", "full_refund"):
        amount = books.open_fen(order) if kind == "full_refund" else books.open_fen(order) * x // 100
        if amount <= 0:
            return
        ledger.post_refund(fact, key=f"refund:{n}", amount_fen=amount, at=at)
        books.refunded[order] += amount
        e[Account.PLATFORM_CLEARING] -= amount
        e[Account.CUSTOMER_PREPAID] -= amount
        back = min(books.commission[order], books.commission[order] * amount // max(1, books.paid[order]))
        if back:  # a refund gives back its share of the commission
            ledger.post_commission(fact, key=f"commission-back:{n}", amount_fen=back, at=at, reverse=True)
            books.commission[order] -= back
            e[Account.COMMISSION_EXPENSE] -= back
            e[Account.STAFF_COMMISSION_PAYABLE] -= back
    elif kind == "commission":
        amount = books.open_fen(order) * x // 100
        if amount:
            ledger.post_commission(fact, key=f"commission:{n}", amount_fen=amount, at=at)
            books.commission[order] += amount
            e[Account.COMMISSION_EXPENSE] += amount
            e[Account.STAFF_COMMISSION_PAYABLE] += amount
    elif kind == "settle":
        sales = books.open_fen(order)
        share = sales * x // 100
        if sales:
            ledger.post_settlement(fact, key=f"settle:{n}", sales_fen=sales, store_share_fen=share, at=at)
            books.settled[order] += sales
            e[Account.CUSTOMER_PREPAID] -= sales
            e[Account.SALES_REVENUE] += sales - share
            e[Account.STORE_RECEIVABLE] += share
    elif kind == "fee":
        amount = books.paid[order] * x // 10_000
        if amount:
            ledger.post_fee(fact, key=f"fee:{n}", amount_fen=amount, at=at)
            e[Account.FEES] += amount
            e[Account.PLATFORM_CLEARING] -= amount
    elif kind == "subsidy":
        ledger.post_coupon_subsidy(fact, key=f"subsidy:{n}", amount_fen=x, at=at)
        e[Account.PROMOTIONS_EXPENSE] += x
        e[Account.STORE_RECEIVABLE] += x


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(_OP, min_size=1, max_size=25))
def test_any_sequence_of_facts_keeps_the_books_balanced(org: Org, ops: list[tuple[str, int, int]]) -> None:
    enterprise = Enterprise.objects.create(name="property", code=f"prop-{next(_SEQ)}")
    fact = Fact(enterprise_id=enterprise.pk, currency="CNY", store_id=org.store_n1.pk, staff_id=org.n1_staff.pk)
    books = _Books()
    for n, op in enumerate(ops):
        _apply(books, fact, n, op)
        tb = queries.trial_balance(_hq(enterprise.pk))
        assert tb.balanced
        got = {r.account: r.balance_fen for r in tb.rows}
        want = {k: v for k, v in books.expected.items() if v or k in got}
        assert {k: got.get(k, 0) for k in want} == want
        assets = sum(r.balance_fen for r in tb.rows if r.type in ("asset", "expense"))
        claims = sum(r.balance_fen for r in tb.rows if r.type in ("liability", "revenue"))
        assert assets == claims  # assets + expenses = liabilities + revenue
    for order in books.paid:
        assert books.refunded[order] <= books.paid[order]
