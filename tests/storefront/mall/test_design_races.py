"""Store-design publishes raced on PostgreSQL by threads with their own connections (SQLite serialises writers:
skipped there): every publish gets its own version number, none is lost or repeated, and the page serves the last."""

from __future__ import annotations

from collections import Counter

import pytest
from django.db import connection

from siyu.core.models import AuditEntry
from siyu.org.scope import scope_for_staff
from siyu.storefront.models import StorePage, StorePageVersion
from siyu.storefront.services import design
from tests.conftest import Org
from tests.orders.helpers import build_shop
from tests.races import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row-level races need PostgreSQL")


def test_eight_concurrent_publishes_and_rollbacks_end_with_one_version_number_each(org: Org) -> None:
    shop = build_shop(org)
    hq = scope_for_staff(org.hq)
    page = design.open_page(scope=hq, store_id=None)
    design.save_draft(scope=hq, page_id=page.pk, document={"schema": 1, "title": "首页", "components": [
        {"type": "product_grid", "source": "products", "product_ids": [shop.pan.product_id]}]})
    design.publish(scope=hq, page_id=page.pk)

    def work(i: int) -> object:
        if i % 4 == 3:
            return design.rollback(scope=hq, page_id=page.pk, version=1)
        return design.publish(scope=hq, page_id=page.pk)

    outcomes = race(8, work)

    assert outcomes == Counter({"ok": 8})
    numbers = sorted(StorePageVersion.objects.filter(page=page).values_list("number", flat=True))
    assert numbers == list(range(1, 10))
    assert StorePage.objects.get(pk=page.pk).published_version == 9
    assert AuditEntry.objects.filter(target_type="store_page").count() == 9
