"""A mass send's recipients are shown per sender in scope: a staff member sees the customers they send to, a store
manager their store's senders', a region manager their region's, HQ all; the other senders' recipients (another
store's customers) are not listed even though the task itself is visible to everyone with a sender in scope."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from siyu.channels import services as channel_services
from siyu.channels.wecom import queries
from siyu.channels.wecom.models import MassSend, MassSendRecipient, MassSendSender
from siyu.customers.models import Customer
from siyu.org.models import Staff
from siyu.org.scope import scope_for_staff
from siyu.org.services import create_api_token
from tests.conftest import Org
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def mass_send(org: Org) -> MassSend:
    account = channel_services.ensure_account(
        enterprise_id=org.enterprise.pk, kind="wecom", name="WeCom", app_id="wwtestcorp0001", agent_id="1000002",
        secret="s", token="tok", encoding_aes_key="a" * 43, base_url="http://127.0.0.1:9/wecom")
    send = MassSend.objects.create(enterprise=org.enterprise, account=account, name="Spring", status="submitted")
    for staff, external in ((org.n1_staff, "wm-n1"), (org.n2_staff, "wm-n2"), (org.s1_staff, "wm-s1")):
        sender = MassSendSender.objects.create(mass_send=send, staff=staff, userid=staff.wecom_userid)
        customer = CustomerFactory.create(enterprise=org.enterprise, name=f"customer of {staff.name}")
        MassSendRecipient.objects.create(mass_send=send, sender=sender, customer=customer, target=external)
    return send


def _targets(staff: Staff, send: MassSend) -> set[str]:
    return {r.target for r in queries.mass_send_recipients(scope_for_staff(staff), send.pk)}


def test_each_role_sees_the_recipients_of_its_senders_only(org: Org, mass_send: MassSend) -> None:
    assert _targets(org.n1_staff, mass_send) == {"wm-n1"}
    assert _targets(org.s1_staff, mass_send) == {"wm-s1"}
    assert _targets(org.n1_manager, mass_send) == {"wm-n1"}
    assert _targets(org.north_manager, mass_send) == {"wm-n1", "wm-n2"}
    assert _targets(org.hq, mass_send) == {"wm-n1", "wm-n2", "wm-s1"}


def test_the_api_and_the_page_list_only_the_callers_recipients(org: Org, mass_send: MassSend) -> None:
    _token, secret = create_api_token(staff=org.n1_staff, name="t")
    body = Client().get(f"/api/channels/wecom/mass-sends/{mass_send.pk}",
                        headers={"Authorization": f"Bearer {secret}"}).json()
    assert {r["target"] for r in body["recipients"]} == {"wm-n1"}
    assert "wm-s1" not in json.dumps(body)
    client = Client()
    assert org.n1_staff.user is not None
    client.force_login(org.n1_staff.user)
    page = client.get(f"/channels/wecom/mass-sends/{mass_send.pk}/").content.decode()
    other = Customer.objects.get(name="customer of s1_staff")
    assert "wm-n1" in page and "wm-s1" not in page and other.name not in page


def _senders(staff: Staff, send: MassSend) -> set[str]:
    return {s.staff.name for s in queries.mass_send_senders(scope_for_staff(staff), send.pk)}


def test_each_role_sees_its_senders_only(org: Org, mass_send: MassSend) -> None:
    """The sender list (names, counts) follows the same scope as the recipients."""
    n1, n2, s1 = org.n1_staff.name, org.n2_staff.name, org.s1_staff.name
    assert _senders(org.n1_staff, mass_send) == {n1}
    assert _senders(org.n1_manager, mass_send) == {n1}
    assert _senders(org.north_manager, mass_send) == {n1, n2}
    assert _senders(org.hq, mass_send) == {n1, n2, s1}
    client = Client()
    assert org.n1_staff.user is not None
    client.force_login(org.n1_staff.user)
    page = client.get(f"/channels/wecom/mass-sends/{mass_send.pk}/").content.decode()
    assert n1 in page and s1 not in page
