"""HQ's "send this material" task reaches WeCom: the assignment submits one mass send with the staff as senders (their
own customers with the tag); the task stays open until the staff member confirms in the WeCom client (the simulator),
the poll learns it, and the sync marks the task done at the send time, which the execution rate then counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from simulator.wecom import ContactWayState
from siyu.automation import staff_tasks, supervision
from siyu.automation.models import StaffTask, TaskStatus
from siyu.channels.wecom import mass_sends
from siyu.channels.wecom.models import ChannelCode, MassSendSender
from siyu.customers import services as customer_services
from siyu.customers.models import Customer, TagKind
from siyu.org.scope import Scope
from tests.channels.wecom import conftest as wecom_fixtures
from tests.channels.wecom.conftest import CORP_ID, Wecom

pytestmark = pytest.mark.django_db(transaction=True)
# the WeCom tests' fixtures (a simulator over HTTP, the account, immediate tasks)
platform, sim_server = wecom_fixtures.platform, wecom_fixtures.sim_server
immediate_tasks = wecom_fixtures.immediate_tasks
wecom = wecom_fixtures.wecom


def test_a_confirmed_mass_send_marks_the_send_task_done(wecom: Wecom) -> None:
    org = wecom.org
    ChannelCode.objects.create(enterprise=org.enterprise, account=wecom.account, name="n1", state="s-n1")
    wecom.platform.corps[CORP_ID].contact_ways["cfg-n1"] = ContactWayState("cfg-n1", 2, 2, ["n1_staff"], "s-n1")
    externals = [wecom.platform.scan(CORP_ID, "cfg-n1").external_userid for _ in range(2)]
    wecom.deliver()
    ids = list(Customer.objects.filter(identities__value__in=externals).values_list("pk", flat=True))
    group = customer_services.create_tag_group(enterprise_id=org.enterprise.pk, name="新品")
    tag = customer_services.create_tag(group=group, name="想要新品")
    customer_services.tag_customers(enterprise_id=org.enterprise.pk, customer_ids=ids, tag_ids=[tag.pk],
                                    source=TagKind.MANUAL)
    hq = Scope.hq(org.enterprise.pk)
    made = staff_tasks.create_assignment(scope=hq, data=staff_tasks.AssignmentIn(
        kind="send_material", title="新品推荐", instructions="新品上市，欢迎到店", target="staff",
        target_ids=[org.n1_staff.pk], due_at=timezone.now() + timedelta(days=1), tag_id=tag.pk,
        account_id=wecom.account.pk))
    task = StaffTask.objects.get(assignment=made)
    sender = MassSendSender.objects.get(mass_send_id=made.mass_send_id)
    assert task.mass_send_id == made.mass_send_id and sender.msgid
    message = wecom.platform.corps[CORP_ID].messages[sender.msgid]
    assert sorted(message.recipients) == sorted(externals) and message.text == "新品上市，欢迎到店"

    mass_sends.poll_mass_send(mass_send_id=int(made.mass_send_id or 0))
    assert staff_tasks.sync_confirmed_sends() == 0  # not confirmed yet
    wecom.platform.confirm_mass_send(CORP_ID, sender.msgid)
    mass_sends.poll_mass_send(mass_send_id=int(made.mass_send_id or 0))
    assert staff_tasks.sync_confirmed_sends() == 1
    assert staff_tasks.sync_confirmed_sends() == 0  # twice is once
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE and task.done_at is not None
    rows = supervision.execution(hq, by="staff", now=timezone.now())
    assert [(r.name, r.total, r.on_time, r.rate) for r in rows] == [(org.n1_staff.name, 1, 1, 1.0)]
