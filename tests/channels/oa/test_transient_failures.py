"""An Official Account callback whose processing meets a passing database failure stays `received` and is processed
again (by the periodic requeue), never failed for good."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import OperationalError

from siyu.channels.models import AccountKind, CallbackStatus, ChannelAccount, InboundCallback
from siyu.channels.official_account import services
from siyu.core.timeutil import now
from siyu.customers import services as customer_services
from siyu.customers.models import Event

pytestmark = pytest.mark.django_db


def _unfollow(account: ChannelAccount, openid: str = "oGONE") -> InboundCallback:
    plaintext = (
        f"<xml><ToUserName>gh_test</ToUserName><FromUserName>{openid}</FromUserName><CreateTime>1700000000"
        "</CreateTime><MsgType>event</MsgType><Event>unsubscribe</Event></xml>"
    )
    return InboundCallback.objects.create(account=account, kind=AccountKind.OFFICIAL_ACCOUNT, plaintext=plaintext,
                                          signature_ok=True, event="unsubscribe", status=CallbackStatus.RECEIVED)


def test_a_locked_database_is_retried_not_failed(account: ChannelAccount, monkeypatch: pytest.MonkeyPatch) -> None:
    row = _unfollow(account)

    def locked(**kwargs: Any) -> Any:
        raise OperationalError("database is locked")

    monkeypatch.setattr(customer_services, "resolve_customer", locked)
    assert services.process_callback(callback_id=row.pk) == "retry"
    row.refresh_from_db()
    assert row.status == CallbackStatus.RECEIVED and row.error.startswith("will retry")

    monkeypatch.undo()
    InboundCallback.objects.filter(pk=row.pk).update(received_at=now() - timedelta(minutes=5))
    queued: list[int] = []
    monkeypatch.setattr(services, "_enqueue_processing", queued.append)
    assert services.requeue_stale_callbacks() == 1
    assert queued == [row.pk]
    assert services.process_callback(callback_id=row.pk) == CallbackStatus.PROCESSED
    assert Event.objects.filter(name="oa_unfollowed").count() == 1


def test_an_error_of_the_callback_itself_still_fails_it(
    account: ChannelAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    row = _unfollow(account)

    def broken(**kwargs: Any) -> Any:
        raise ValueError("a bug")

    monkeypatch.setattr(customer_services, "resolve_customer", broken)
    assert services.process_callback(callback_id=row.pk) == CallbackStatus.FAILED
    row.refresh_from_db()
    assert row.status == CallbackStatus.FAILED
