"""The finance pages: HQ reads the trial balance and a statement in Chinese or English and reverses an entry."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client

from siyu.core.models import AuditEntry
from siyu.finance import ledger
from siyu.finance.models import JournalEntry
from tests.conftest import Org

pytestmark = pytest.mark.django_db


def _signed_in(org: Org, language: str) -> Client:
    client = Client()
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    client.post("/i18n/setlang/", {"language": language})
    return client


def test_trial_balance_and_statement_in_both_languages(org: Org) -> None:
    fact = ledger.Fact(enterprise_id=org.enterprise.pk, currency="CNY")
    ledger.post_payment(fact, key="payment:C1", amount_fen=12_345, at=datetime(2026, 11, 2, 3, tzinfo=UTC))
    ledger.post_fee(fact, key="fee:C1", amount_fen=74, at=datetime(2026, 11, 2, 4, tzinfo=UTC))
    zh = _signed_in(org, "zh-hans").get("/finance/").content.decode()
    assert "试算平衡表" in zh and "¥122.71" in zh and "借贷平衡" in zh
    en = _signed_in(org, "en").get("/finance/statement/?account=platform_clearing").content.decode()
    assert "Opening balance" in en and "¥123.45" in en and "¥122.71" in en
    assert _signed_in(org, "en").get("/finance/statement/?account=no_such_account").status_code == 404


def test_reversing_from_the_statement_posts_the_reversal_and_audits_it(org: Org) -> None:
    fact = ledger.Fact(enterprise_id=org.enterprise.pk, currency="CNY")
    entry = ledger.post_payment(fact, key="payment:C2", amount_fen=500, at=datetime(2026, 11, 2, 3, tzinfo=UTC))
    assert entry is not None
    client = _signed_in(org, "en")
    response = client.post(f"/finance/entries/{entry.pk}/reverse/", {"reason": "", "next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == "/finance/"
    assert not JournalEntry.objects.filter(reverses=entry).exists()  # no reason, no reversal
    client.post(f"/finance/entries/{entry.pk}/reverse/", {"reason": "duplicate payment record"})
    client.post(f"/finance/entries/{entry.pk}/reverse/", {"reason": "duplicate payment record"})
    assert JournalEntry.objects.filter(reverses=entry).count() == 1
    assert AuditEntry.objects.filter(action="ledger.reverse").count() == 1
    page = client.get("/finance/").content.decode()
    assert "¥5.00" in page and "Balanced" in page
