"""The outbox retries transient failures and gives up on terminal ones; the demo seed step."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings

from siyu.channels.models import ChannelAccount
from siyu.channels.wecom import channel_codes, housekeeping, outbox
from siyu.channels.wecom.models import CallStatus, ChannelCode, CodeStatus, OutboundCall
from siyu.channels.wecom.seed import seed_wecom
from siyu.core.timeutil import now
from siyu.org.scope import Scope
from tests.channels.wecom.conftest import Wecom
from tests.conftest import Org

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_network_failure_is_retried_until_the_platform_answers(wecom: Wecom) -> None:
    good_url = wecom.account.base_url
    ChannelAccount.objects.filter(pk=wecom.account.pk).update(base_url="http://127.0.0.1:9/wecom")
    code = channel_codes.create_channel_code(
        scope=Scope.hq(wecom.org.enterprise.pk), account_id=wecom.account.pk, name="c",
        staff_ids=[wecom.org.n1_staff.pk], state="retry",
    )
    call = OutboundCall.objects.get()
    assert (call.status, call.attempts, call.errcode) == (CallStatus.RETRYING, 1, -2)
    assert call.next_attempt_at is not None and call.next_attempt_at > now()
    ChannelAccount.objects.filter(pk=wecom.account.pk).update(base_url=good_url)
    assert housekeeping.sweep()["calls_requeued"] == 0  # not due yet
    OutboundCall.objects.filter(pk=call.pk).update(next_attempt_at=now() - timedelta(seconds=1))
    assert housekeeping.sweep()["calls_requeued"] == 1
    call.refresh_from_db()
    code.refresh_from_db()
    assert (call.status, call.attempts, code.status) == (CallStatus.DONE, 2, CodeStatus.ACTIVE)


def test_a_terminal_error_fails_the_call_and_the_code(wecom: Wecom) -> None:
    wecom.platform.corps[wecom.corp].members.pop("n1_staff")  # not a member of the corp: 40003
    code = channel_codes.create_channel_code(
        scope=Scope.hq(wecom.org.enterprise.pk), account_id=wecom.account.pk, name="c",
        staff_ids=[wecom.org.n1_staff.pk], state="bad",
    )
    code.refresh_from_db()
    call = OutboundCall.objects.get()
    assert (call.status, call.errcode, call.attempts) == (CallStatus.FAILED, 40003, 1)
    assert code.status == CodeStatus.FAILED


def test_an_outbox_call_runs_once_even_when_enqueued_twice(wecom: Wecom) -> None:
    channel_codes.create_channel_code(
        scope=Scope.hq(wecom.org.enterprise.pk), account_id=wecom.account.pk, name="c",
        staff_ids=[wecom.org.n1_staff.pk], state="once",
    )
    call = OutboundCall.objects.get()
    assert outbox.execute_call(call_id=call.pk) == "skipped"
    assert len(wecom.platform.corps[wecom.corp].contact_ways) == 1


def test_the_seed_step_creates_the_demo_account_and_codes_once(org: Org) -> None:
    class Progress:
        notes: list[str] = []

        def note(self, text: str) -> None:
            self.notes.append(text)

    seed_wecom(org.enterprise.pk, None, Progress())
    seed_wecom(org.enterprise.pk, None, Progress())
    account = ChannelAccount.objects.get(kind="wecom")
    assert account.base_url == f"http://127.0.0.1:{settings.SIYU_SIMULATOR_PORT}/wecom"
    # stores with active WeCom staff: bj1 (manager + staff), tj1, gz1; sz1 has none
    assert sorted(ChannelCode.objects.values_list("store__code", flat=True)) == ["bj1", "gz1", "tj1"]
    assert all(c.tags.count() == 2 for c in ChannelCode.objects.all())
