"""Template messages: an outbox row first (idempotent by key), then the worker sends with retries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from simulator.state import current
from siyu.channels.official_account import services
from siyu.channels.official_account.models import TemplateSend
from siyu.core.errors import Conflict, ValidationFailed
from siyu.core.timeutil import now
from tests.channels.oa.conftest import DEMO, Platform

pytestmark = pytest.mark.django_db
TEMPLATE = "tpl_order_shipped_0001"


def request(key: str, openid: str = "oBuyer", **extra: Any) -> services.TemplateRequest:
    data = {"first": {"value": "您的订单已发货"}, "keyword1": {"value": "SO20261111001"},
            "keyword2": {"value": "顺丰 SF123", "color": "#173177"}}
    return services.TemplateRequest(openid=openid, template_id=TEMPLATE, data=data, idempotency_key=key, **extra)


def send(org, account, capture, req: services.TemplateRequest) -> TemplateSend:
    with capture(execute=True):
        row = services.send_template_message(enterprise_id=org.enterprise.pk, account_id=account.pk, request=req)
    return TemplateSend.objects.get(pk=row.pk)


def test_a_template_message_is_recorded_then_sent(org, account, django_capture_on_commit_callbacks) -> None:
    current().oa.add_follower(DEMO.app_id, openid="oBuyer")
    row = send(org, account, django_capture_on_commit_callbacks, request("order-1-shipped", url="https://a.cn/o/1"))
    sent = current().oa.app(DEMO.app_id).template_sends
    assert len(sent) == 1
    assert sent[0]["touser"] == "oBuyer"
    assert sent[0]["template_id"] == TEMPLATE
    assert sent[0]["client_msg_id"] == "order-1-shipped"
    assert sent[0]["data"]["keyword2"] == {"value": "顺丰 SF123", "color": "#173177"}
    assert sent[0]["url"] == "https://a.cn/o/1"
    assert (row.status, row.attempts, row.msgid) == ("sent", 1, str(sent[0]["msgid"]))


def test_the_same_key_twice_sends_once(org, account, django_capture_on_commit_callbacks) -> None:
    current().oa.add_follower(DEMO.app_id, openid="oBuyer")
    first = send(org, account, django_capture_on_commit_callbacks, request("k1"))
    again = send(org, account, django_capture_on_commit_callbacks, request("k1"))
    assert first.pk == again.pk
    assert len(current().oa.app(DEMO.app_id).template_sends) == 1
    with pytest.raises(Conflict):
        services.send_template_message(enterprise_id=org.enterprise.pk, account_id=account.pk,
                                       request=request("k1", openid="oSomeoneElse"))


def test_a_recipient_who_does_not_follow_fails_terminally_43004(org, account, django_capture_on_commit_callbacks):
    current().oa.add_follower(DEMO.app_id, openid="oGone", subscribed=False)
    row = send(org, account, django_capture_on_commit_callbacks, request("k2", openid="oGone"))
    assert (row.status, row.errcode, row.attempts) == ("failed", 43004, 1)


def test_quota_exhaustion_is_retried_later_and_then_sent(org, account, django_capture_on_commit_callbacks) -> None:
    current().oa.add_follower(DEMO.app_id, openid="oBuyer")
    current().oa.app(DEMO.app_id).quotas["template_quota"] = 0
    row = send(org, account, django_capture_on_commit_callbacks, request("k3"))
    assert (row.status, row.errcode, row.attempts) == ("pending", 45009, 1)
    assert row.next_attempt_at is not None
    assert now() + timedelta(seconds=25) < row.next_attempt_at < now() + timedelta(seconds=35)
    assert services.retry_due_sends() == 0  # not due yet
    del current().oa.app(DEMO.app_id).quotas["template_quota"]
    TemplateSend.objects.filter(pk=row.pk).update(next_attempt_at=now() - timedelta(seconds=1))
    assert services.retry_due_sends() == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("sent", 2)


def test_retries_stop_after_the_last_attempt(org, account, django_capture_on_commit_callbacks) -> None:
    current().oa.add_follower(DEMO.app_id, openid="oBuyer")
    current().oa.app(DEMO.app_id).quotas["template_quota"] = 0
    row = send(org, account, django_capture_on_commit_callbacks, request("k4"))
    for _attempt in range(services.TEMPLATE_MAX_ATTEMPTS - 1):
        TemplateSend.objects.filter(pk=row.pk).update(next_attempt_at=now() - timedelta(seconds=1))
        services.retry_due_sends()
    row.refresh_from_db()
    assert (row.status, row.attempts, row.errcode) == ("failed", services.TEMPLATE_MAX_ATTEMPTS, 45009)


def test_bad_input_is_refused_with_its_field(org, account) -> None:
    for req, field in [
        (request(""), "idempotency_key"),
        (services.TemplateRequest(openid="o", template_id=TEMPLATE, data={}, idempotency_key="k"), "data"),
        (request("k", url="javascript:alert(1)"), "url"),
        (request("k", miniprogram={"appid": "wx1"}), "miniprogram"),
    ]:
        with pytest.raises(ValidationFailed) as caught:
            services.send_template_message(enterprise_id=org.enterprise.pk, account_id=account.pk, request=req)
        assert caught.value.field == field
    assert not TemplateSend.objects.exists()


def test_the_send_report_callback_marks_delivery(platform: Platform, org, django_capture_on_commit_callbacks) -> None:
    platform.follower(openid="oBuyer")
    row = send(org, platform.account, django_capture_on_commit_callbacks, request("k5"))
    report = current().oa.app(DEMO.app_id).pending_events.pop()
    response = platform.push(report)
    assert response.content == b"success"
    row.refresh_from_db()
    assert row.delivery == "success"


def test_on_the_database_backend_a_retry_is_a_deferred_task(org, account, settings) -> None:
    from django_tasks_db.models import DBTaskResult

    current().oa.add_follower(DEMO.app_id, openid="oBuyer")
    current().oa.app(DEMO.app_id).quotas["template_quota"] = 0
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    row = services.send_template_message(enterprise_id=org.enterprise.pk, account_id=account.pk, request=request("k6"))
    assert services.deliver_template_message(send_id=row.pk) == "retry"
    row.refresh_from_db()
    queued = DBTaskResult.objects.get()
    assert queued.task_path == "siyu.channels.official_account.tasks.deliver_oa_template"
    assert queued.args_kwargs["args"] == [row.pk]
    assert queued.run_after == row.next_attempt_at
