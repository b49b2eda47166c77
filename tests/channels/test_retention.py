"""Raw channel traffic is not kept forever (PIPL): after SIYU_RAW_RETENTION_DAYS handled callbacks lose their raw
text and finished outbound calls their payload; what is still waiting keeps everything, and the rows themselves stay
so deduplication and idempotency still hold."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings

from siyu.channels import services as channel_services
from siyu.channels.models import AccountKind, CallbackStatus, ChannelAccount, InboundCallback
from siyu.channels.wecom import housekeeping, outbox
from siyu.channels.wecom.models import CallStatus, OutboundCall
from siyu.core.timeutil import now
from tests.factories import EnterpriseFactory

pytestmark = pytest.mark.django_db
RAW = {"body": "<xml>ExternalUserID wm-ada</xml>", "plaintext": "<xml>wm-ada 13800001111</xml>",
       "query": {"nonce": "n1", "timestamp": "1"}}


def _callback(age_days: int, status: str, dedupe: str) -> InboundCallback:
    row = InboundCallback.objects.create(kind=AccountKind.WECOM, status=status, event="add_external_contact",
                                         dedupe_key=dedupe, **RAW)
    InboundCallback.objects.filter(pk=row.pk).update(received_at=now() - timedelta(days=age_days))
    return row


@override_settings(SIYU_RAW_RETENTION_DAYS=90)
def test_handled_callbacks_older_than_the_retention_lose_their_raw_text_only() -> None:
    old_done = _callback(91, CallbackStatus.PROCESSED, "d1")
    old_dup = _callback(120, CallbackStatus.DUPLICATE, "d2")
    old_waiting = _callback(91, CallbackStatus.RECEIVED, "d3")
    recent = _callback(89, CallbackStatus.PROCESSED, "d4")

    counts = channel_services.prune_callback_records()
    assert counts["callback_bodies_erased"] == 2
    rows = {row.pk: row for row in InboundCallback.objects.all()}
    for erased in (old_done, old_dup):
        row = rows[erased.pk]
        assert (row.body, row.plaintext, row.query) == ("", "", {})
        assert (row.event, row.status, row.dedupe_key) == (erased.event, erased.status, erased.dedupe_key)
    for kept in (old_waiting, recent):
        assert (rows[kept.pk].body, rows[kept.pk].plaintext, rows[kept.pk].query) == (
            RAW["body"], RAW["plaintext"], RAW["query"])
    assert channel_services.prune_callback_records()["callback_bodies_erased"] == 0  # nothing left to erase


@override_settings(SIYU_RAW_RETENTION_DAYS=30)
def test_finished_outbound_calls_lose_their_payload_but_keep_their_key() -> None:
    ent = EnterpriseFactory.create(code="retention")
    account = ChannelAccount.objects.create(enterprise=ent, kind=AccountKind.WECOM, name="corp", app_id="wwretention1",
                                            callback_token="t", base_url="http://127.0.0.1:9")
    payload = {"text": "双十一 8.5折", "external_userid": ["wm-ada", "wm-bo"], "_ref": {"mass_send_id": 1}}

    def call(key: str, status: str, finished_days_ago: int | None) -> OutboundCall:
        finished = now() - timedelta(days=finished_days_ago) if finished_days_ago is not None else None
        return OutboundCall.objects.create(account=account, method="add_msg_template", payload=payload,
                                           idempotency_key=key, status=status, finished_at=finished,
                                           result={"msgid": key})

    done, failed = call("k-done", CallStatus.DONE, 31), call("k-failed", CallStatus.FAILED, 40)
    recent, pending = call("k-recent", CallStatus.DONE, 29), call("k-pending", CallStatus.PENDING, None)

    assert housekeeping.sweep()["call_payloads_erased"] == 2
    rows = {row.idempotency_key: row for row in OutboundCall.objects.all()}
    assert rows["k-done"].payload == {} and rows["k-failed"].payload == {}
    assert rows["k-done"].result == {"msgid": "k-done"} and rows["k-done"].status == CallStatus.DONE
    assert rows["k-recent"].payload == payload and rows["k-pending"].payload == payload
    assert outbox.erase_old_payloads() == 0
    assert {done.pk, failed.pk, recent.pk, pending.pk} == {row.pk for row in rows.values()}
