"""Outbox keys come from the business fact, never from the clock: the same push made twice is one call; a later push
that only looks the same (the tag added back after a removal, a tag renamed back) is a call of its own."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from siyu.channels import services as channel_services
from siyu.channels.models import AccountKind, ChannelAccount
from siyu.channels.wecom import tags
from siyu.channels.wecom.models import CallStatus, OutboundCall, TagLink
from siyu.core import timeutil
from siyu.customers import services as customer_services
from siyu.customers.models import Tag
from tests.channels.wecom.conftest import AES_KEY, CORP_ID, TOKEN
from tests.conftest import Org

pytestmark = pytest.mark.django_db


def _account(org: Org) -> ChannelAccount:
    return channel_services.ensure_account(
        enterprise_id=org.enterprise.pk, kind=AccountKind.WECOM, name="w", app_id=CORP_ID, secret="s",
        token=TOKEN, encoding_aes_key=AES_KEY, base_url="http://127.0.0.1:9/wecom",
    )


def _later(monkeypatch: pytest.MonkeyPatch, minutes: int) -> None:
    moment = timeutil.now() + timedelta(minutes=minutes)
    monkeypatch.setattr(tags, "now", lambda: moment, raising=False)  # tags may not read the clock at all


def _done(call: OutboundCall) -> None:
    """What the worker does when WeCom accepted the call (the success hook moves the merge base)."""
    OutboundCall.objects.filter(pk=call.pk).update(status=CallStatus.DONE)
    call.refresh_from_db()
    tags._tags_marked(call, {})


def test_the_same_mark_tag_push_made_twice_is_one_call(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    account = _account(org)
    first = tags.queue_mark_tag(account, userid="n1_staff", external_userid="wmA", add=["et1"], remove=[])
    _later(monkeypatch, 5)
    again = tags.queue_mark_tag(account, userid="n1_staff", external_userid="wmA", add=["et1"], remove=[])
    assert again.pk == first.pk
    assert OutboundCall.objects.filter(method="mark_tag").count() == 1


def test_adding_back_after_a_removal_is_a_new_call(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    account = _account(org)
    pair = {"userid": "n1_staff", "external_userid": "wmA"}
    added = tags.queue_mark_tag(account, **pair, add=["et1"], remove=[])
    _done(added)
    removed = tags.queue_mark_tag(account, **pair, add=[], remove=["et1"])
    _done(removed)
    added_back = tags.queue_mark_tag(account, **pair, add=["et1"], remove=[])

    assert len({added.pk, removed.pk, added_back.pk}) == 3
    assert added_back.status == CallStatus.PENDING
    # and the keys say what they are about, with no time in them
    for call in OutboundCall.objects.all():
        assert call.idempotency_key.startswith(f"mark_tag:{account.pk}:")
        assert not re.search(r"\d{14}", call.idempotency_key), call.idempotency_key  # no %Y%m%d%H%M%S stamp


def test_renaming_a_linked_tag_back_and_forth_is_one_call_each(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    account = _account(org)
    group = customer_services.create_tag_group(enterprise_id=org.enterprise.pk, name="兴趣")
    tag = customer_services.create_tag(group=group, name="跑步")
    TagLink.objects.create(account=account, tag=tag, wecom_tag_id="etRUN")

    for name in ("长跑", "跑步", "长跑"):
        customer_services.rename_tag(tag=Tag.objects.get(pk=tag.pk), name=name)
    renames = list(OutboundCall.objects.filter(method="edit_corp_tag").order_by("id"))
    assert [c.payload["name"] for c in renames] == ["长跑", "跑步", "长跑"]
    assert len({c.idempotency_key for c in renames}) == 3

    # the hook told the same change again (a retried hook) queues nothing more, whatever the time
    _later(monkeypatch, 5)
    change = customer_services.TagChange("tag_renamed", org.enterprise.pk, group.pk, (tag.pk,), "长跑",
                                         version=Tag.objects.get(pk=tag.pk).version)
    tags.on_siyu_tag_change(change)
    assert OutboundCall.objects.filter(method="edit_corp_tag").count() == 3
