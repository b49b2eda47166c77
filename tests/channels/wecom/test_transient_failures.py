"""A callback whose processing meets a passing database failure (a lock, a deadlock, the lost side of a uniqueness
race) is processed again, never failed for good; only one still failing after a day is given up."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import IntegrityError, OperationalError

from siyu.channels import services as channel_services
from siyu.channels.models import AccountKind, CallbackStatus, ChannelAccount, InboundCallback
from siyu.channels.wecom import inbound
from siyu.core.timeutil import now
from siyu.customers import services as customer_services
from siyu.customers.models import Customer, RelationshipStatus
from siyu.customers.services import IdentityInput
from tests.channels.wecom.conftest import AES_KEY, CORP_ID, TOKEN
from tests.conftest import Org

pytestmark = pytest.mark.django_db


def _account(org: Org) -> ChannelAccount:
    return channel_services.ensure_account(
        enterprise_id=org.enterprise.pk, kind=AccountKind.WECOM, name="w", app_id=CORP_ID, secret="s",
        token=TOKEN, encoding_aes_key=AES_KEY, base_url="http://127.0.0.1:9/wecom",
    )


def _deleted_by_customer(org: Org) -> tuple[Customer, InboundCallback]:
    """A customer of n1_staff and a stored del_follow_user callback for them (no platform call needed)."""
    account = _account(org)
    customer = customer_services.create_customer(
        enterprise_id=org.enterprise.pk, identities=[IdentityInput("wecom_external_userid", "wmGONE", CORP_ID)]
    )
    customer_services.add_relationship(customer=customer, staff=org.n1_staff, added_at=now())
    plaintext = (
        f"<xml><ToUserName>{CORP_ID}</ToUserName><FromUserName>sys</FromUserName><CreateTime>1700000000</CreateTime>"
        "<MsgType>event</MsgType><Event>change_external_contact</Event><ChangeType>del_follow_user</ChangeType>"
        f"<UserID>{org.n1_staff.wecom_userid}</UserID><ExternalUserID>wmGONE</ExternalUserID></xml>"
    )
    row = InboundCallback.objects.create(account=account, kind=AccountKind.WECOM, plaintext=plaintext,
                                         signature_ok=True, status=CallbackStatus.RECEIVED)
    return customer, row


def _failing(exc: Exception, times: int, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = customer_services.end_relationship

    def flaky(**kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) <= times:
            raise exc
        return real(**kwargs)

    monkeypatch.setattr(customer_services, "end_relationship", flaky)
    return calls


def test_the_lost_side_of_a_race_is_processed_on_the_next_try(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    customer, row = _deleted_by_customer(org)
    calls = _failing(IntegrityError("duplicate key value violates unique constraint"), 1, monkeypatch)

    assert inbound.process(callback_id=row.pk) == "relationship deleted_by_customer"

    assert len(calls) == 2
    row.refresh_from_db()
    assert row.status == CallbackStatus.PROCESSED
    assert customer.relationships.get().status == RelationshipStatus.DELETED_BY_CUSTOMER


def test_a_locked_database_leaves_the_callback_received_for_the_requeue(
    org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer, row = _deleted_by_customer(org)
    _failing(OperationalError("database is locked"), 10, monkeypatch)

    assert inbound.process(callback_id=row.pk) == "retry"

    row.refresh_from_db()
    assert row.status == CallbackStatus.RECEIVED and row.dedupe_key is None
    assert row.error.startswith("will retry: OperationalError")
    monkeypatch.undo()
    assert inbound.process(callback_id=row.pk) == "relationship deleted_by_customer"
    row.refresh_from_db()
    assert row.status == CallbackStatus.PROCESSED
    assert customer.relationships.get().status == RelationshipStatus.DELETED_BY_CUSTOMER


def test_a_callback_still_failing_after_a_day_is_given_up(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    _customer, row = _deleted_by_customer(org)
    InboundCallback.objects.filter(pk=row.pk).update(received_at=now() - inbound.RETRY_FOR - timedelta(minutes=1))
    _failing(OperationalError("database is locked"), 10, monkeypatch)

    assert inbound.process(callback_id=row.pk) == "failed"
    row.refresh_from_db()
    assert row.status == CallbackStatus.FAILED


def test_an_error_of_the_callback_itself_still_fails_it(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    _customer, row = _deleted_by_customer(org)
    _failing(ValueError("a bug"), 10, monkeypatch)
    with pytest.raises(ValueError, match="a bug"):
        inbound.process(callback_id=row.pk)
    row.refresh_from_db()
    assert row.status == CallbackStatus.FAILED
