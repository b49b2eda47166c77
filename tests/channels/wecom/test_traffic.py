"""The traffic driver against a live Siyu over HTTP: what it reports doing is what Siyu's stats show."""

from __future__ import annotations

import random

import pytest
from pytest_django.live_server_helper import LiveServer

from simulator.wecom import drive_traffic
from siyu.channels.demo_accounts import DemoApp
from siyu.channels.models import CallbackStatus, InboundCallback
from siyu.channels.wecom import channel_codes
from siyu.channels.wecom.models import ChannelCodeDay, CustomerGroup
from siyu.customers.models import Relationship, RelationshipStatus
from siyu.org.scope import Scope
from tests.channels.wecom.conftest import AES_KEY, CORP_ID, SECRET, TOKEN, Wecom

pytestmark = pytest.mark.django_db(transaction=True)


def test_simulated_customers_over_http_show_up_in_the_codes_stats(live_server: LiveServer, wecom: Wecom) -> None:
    code = channel_codes.create_channel_code(
        scope=Scope.hq(wecom.org.enterprise.pk),
        account_id=wecom.account.pk,
        name="live",
        staff_ids=[wecom.org.n1_staff.pk, wecom.org.n2_staff.pk],
        state="live",
        welcome_text="欢迎 {name}",
    )
    app = DemoApp(app_id=CORP_ID, agent_id="1000002", secret=SECRET, token=TOKEN, encoding_aes_key=AES_KEY)
    url = f"{live_server.url}/channels/wecom/callback/{wecom.account.pk}/"
    report = drive_traffic(url, app, random.Random(11), 40, platform=wecom.platform)

    assert report.adds > 5 and report.scans > report.adds
    assert set(report.delivered) == {200}
    assert not InboundCallback.objects.exclude(status=CallbackStatus.PROCESSED).exists()
    day = ChannelCodeDay.objects.get(code=code)
    assert (day.scans, day.adds, day.deletes) == (
        report.scans, report.adds, report.customer_deletes + report.staff_deletes
    )
    follows = wecom.platform.corps[CORP_ID].follows.values()  # one per (staff, customer), re-adds included
    assert Relationship.objects.filter(state="live").count() == len(follows)
    ended = {f.external_userid for f in follows if not f.active}
    not_active = Relationship.objects.exclude(status=RelationshipStatus.ACTIVE)
    assert set(not_active.values_list("customer__identities__value", flat=True)) >= ended
    assert len(wecom.platform.welcomes(CORP_ID)) == report.adds
    assert CustomerGroup.objects.count() == report.groups_created

