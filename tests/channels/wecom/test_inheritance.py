"""Customer inheritance end to end: submit, the platform's 24 h takeover, a refusal, the 90-day rule, resigned staff."""

from __future__ import annotations

import pytest

from simulator.wecom import DAY, ContactWayState
from siyu.channels.wecom import inheritance
from siyu.channels.wecom.models import ChannelCode, TransferItem, TransferItemStatus, TransferJobStatus
from siyu.core.errors import NotFound, ValidationFailed
from siyu.customers.models import Customer, Relationship, RelationshipStatus
from siyu.org.models import Staff
from siyu.org.scope import Scope
from tests.channels.wecom.conftest import CORP_ID, Wecom

pytestmark = pytest.mark.django_db(transaction=True)


def _customers(w: Wecom, n: int) -> list[str]:
    ChannelCode.objects.create(enterprise=w.org.enterprise, account=w.account, name="x", state="origin")
    w.platform.corps[CORP_ID].contact_ways["cfg1"] = ContactWayState("cfg1", 2, 2, ["n1_staff"], "origin")
    externals = [w.platform.scan(CORP_ID, "cfg1").external_userid for _ in range(n)]
    w.deliver()
    return externals


def _status(ext: str) -> str:
    return TransferItem.objects.get(external_userid=ext).status


def _start(w: Wecom, kind: str = "in_service", **kw: object) -> int:
    job = inheritance.start_transfer(
        scope=Scope.hq(w.org.enterprise.pk),
        account_id=w.account.pk,
        kind=kind,
        handover_id=w.org.n1_staff.pk,
        takeover_id=w.org.n2_staff.pk,
        message="我的同事会继续为您服务",
        **kw,  # type: ignore[arg-type]
    )
    return job.pk


def test_in_service_inheritance_with_one_refusal(wecom: Wecom) -> None:
    a, b, refuser = _customers(wecom, 3)
    wecom.platform.corps[CORP_ID].contacts[refuser].refuses_transfer = True
    job_id = _start(wecom)
    assert {_status(x) for x in (a, b, refuser)} == {TransferItemStatus.WAITING}

    wecom.platform.advance(DAY + 1)
    wecom.deliver()

    assert [_status(x) for x in (a, b, refuser)] == [
        TransferItemStatus.SUCCEEDED, TransferItemStatus.SUCCEEDED, TransferItemStatus.REFUSED
    ]
    for ext in (a, b):
        customer = Customer.objects.get(identities__value=ext)
        old = Relationship.objects.get(customer=customer, staff=wecom.org.n1_staff)
        new = Relationship.objects.get(customer=customer, staff=wecom.org.n2_staff)
        assert old.status == RelationshipStatus.TRANSFERRED
        assert new.status == RelationshipStatus.ACTIVE
        assert (new.previous_staff_id, new.state) == (wecom.org.n1_staff.pk, "origin")
        assert customer.events.filter(name="wecom_contact_transferred").count() == 1
    stayed = Relationship.objects.get(customer__identities__value=refuser)
    assert (stayed.staff_id, stayed.status) == (wecom.org.n1_staff.pk, RelationshipStatus.ACTIVE)
    from siyu.channels.wecom.models import TransferJob

    assert TransferJob.objects.get(pk=job_id).status == TransferJobStatus.DONE
    # polling transfer_result afterwards agrees and changes nothing
    assert inheritance.poll_transfer(job_id=job_id) == 0


def test_polling_settles_items_when_the_callbacks_are_lost(wecom: Wecom) -> None:
    [a] = _customers(wecom, 1)
    job_id = _start(wecom)
    wecom.platform.advance(DAY + 1)
    wecom.platform.take_outbox()  # the callbacks never arrive
    assert inheritance.poll_transfer(job_id=job_id) == 1
    assert _status(a) == TransferItemStatus.SUCCEEDED
    new = Relationship.objects.get(customer__identities__value=a, staff=wecom.org.n2_staff)
    assert new.previous_staff_id == wecom.org.n1_staff.pk


def test_a_selection_of_customers_only_moves_those(wecom: Wecom) -> None:
    a, b = _customers(wecom, 2)
    chosen = Customer.objects.get(identities__value=b)
    _start(wecom, customer_ids=[chosen.pk])
    assert list(TransferItem.objects.values_list("external_userid", flat=True)) == [b]


def test_a_customer_not_of_the_handover_is_refused_by_siyu_before_anything_is_written(wecom: Wecom) -> None:
    _customers(wecom, 1)
    stranger = Customer.objects.create(enterprise=wecom.org.enterprise, name="x", created_at="2026-01-01T00:00Z")
    with pytest.raises(NotFound) as caught:
        _start(wecom, customer_ids=[stranger.pk])
    assert caught.value.field == "customer_ids"
    assert TransferItem.objects.count() == 0


def test_the_platform_allows_two_transfers_per_customer_in_90_days(wecom: Wecom) -> None:
    [a] = _customers(wecom, 1)
    _start(wecom)
    wecom.platform.advance(DAY + 1)
    wecom.deliver()
    # back from n2 to n1, then n1 to n2 again: the third transfer within 90 days is refused by the platform
    inheritance.start_transfer(scope=Scope.hq(wecom.org.enterprise.pk), account_id=wecom.account.pk,
                            kind="in_service", handover_id=wecom.org.n2_staff.pk, takeover_id=wecom.org.n1_staff.pk)
    wecom.platform.advance(DAY + 1)
    wecom.deliver()
    third = _start(wecom)
    item = TransferItem.objects.get(job_id=third)
    assert item.status == TransferItemStatus.REJECTED
    assert item.errcode == wecom.platform.limits.transfer_too_often_errcode


def test_resigned_inheritance_needs_the_member_resigned_on_the_platform(wecom: Wecom) -> None:
    [a] = _customers(wecom, 1)
    with pytest.raises(ValidationFailed):
        _start(wecom, kind="resigned")  # still active in Siyu
    Staff.objects.filter(pk=wecom.org.n1_staff.pk).update(is_active=False)
    first = _start(wecom, kind="resigned")
    item = TransferItem.objects.get(job_id=first)
    assert (item.status, item.errcode) == (TransferItemStatus.REJECTED, 40097)
    wecom.platform.resign_member(CORP_ID, "n1_staff")
    second = _start(wecom, kind="resigned")
    wecom.platform.advance(DAY + 1)
    assert inheritance.poll_transfer(job_id=second) == 1
    assert TransferItem.objects.get(job_id=second).status == TransferItemStatus.SUCCEEDED
