"""`siyu consistency` finds each broken cross-table fact it names, and nothing in a consistent database."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from siyu.customers.models import Event
from siyu.finance.models import JournalEntry
from siyu.ops.consistency import run
from siyu.orders.models import Order
from siyu.storefront.services import cart
from tests.conftest import Org
from tests.orders.helpers import Shop, build_shop, paid

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(org: Org) -> Shop:
    return build_shop(org)


def _paid_orders(shop: Shop, n: int) -> list[Order]:
    return [paid(shop, shop.order(cart.LineInput(sku_id=shop.tissue.pk, quantity=1)), ref=f"pay-{i}")
            for i in range(n)]


def test_a_consistent_database_has_no_findings(shop: Shop, capsys: pytest.CaptureFixture[str]) -> None:
    _paid_orders(shop, 3)
    assert run() == []
    call_command("consistency")
    assert "every check passed" in capsys.readouterr().out


def test_each_broken_fact_is_found_with_its_rows(shop: Shop) -> None:
    first, second, third = _paid_orders(shop, 3)
    Event.objects.filter(name="order_paid", idempotency_key__in=[f"order_paid:{first.pk}", f"order_paid:{third.pk}"]
                         ).delete()
    Order.objects.filter(pk=second.pk).update(paid_fen=second.amount_fen + 1)
    empty = JournalEntry.objects.create(enterprise=shop.org.enterprise, kind="payment", idempotency_key="lonely",
                                        posted_at=timezone.now())

    found = {f.check: (f.count, f.sample) for f in run()}
    assert found == {
        "paid_order_without_paid_event": (2, sorted([first.pk, third.pk])),
        "order_paid_above_amount": (1, [second.pk]),
        "journal_entry_without_transfers": (1, [empty.pk]),
    }
    with pytest.raises(CommandError, match="3 consistency checks failed"):
        call_command("consistency")
