"""Auto-pull by store (issue 29: "chosen by the customer's tags or store"): a channel code's welcome carries the join
link of the route whose store is the store of the staff member the customer added; a route with a tag and a store
needs both; a customer matching no route gets the fallback."""

from __future__ import annotations

import pytest

from siyu.channels.wecom import auto_pull, channel_codes
from siyu.channels.wecom.auto_pull import RouteIn
from siyu.channels.wecom.models import ChannelCode
from siyu.org.scope import Scope
from tests.channels.wecom.conftest import CORP_ID, Wecom
from tests.channels.wecom.test_auto_pull_and_keywords import _group_code, _welcome_links
from tests.factories import TagFactory, TagGroupFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_welcome_carries_the_group_of_the_added_staff_members_store(wecom: Wecom) -> None:
    hq = Scope.hq(wecom.org.enterprise.pk)
    org = wecom.org
    runner = TagFactory.create(group=TagGroupFactory.create(enterprise=org.enterprise, name="兴趣"), name="跑步")
    beijing, tianjin, beijing_runners, general = (
        _group_code(wecom, n, s) for n, s in (("北京一店群", "bj"), ("天津一店群", "tj"), ("北京跑团", "bjrun"),
                                               ("福利群", "all")))
    routes = [RouteIn(group_code_id=beijing_runners.pk, tag_id=runner.pk, store_id=org.store_n1.pk),
              RouteIn(group_code_id=beijing.pk, store_id=org.store_n1.pk),
              RouteIn(group_code_id=tianjin.pk, store_id=org.store_n2.pk),
              RouteIn(group_code_id=general.pk)]
    codes: dict[str, ChannelCode] = {}
    for staff, tags in ((org.n1_staff, []), (org.n2_staff, []), (org.s1_staff, []), (org.n1_staff, [runner.pk])):
        state = f"{staff.wecom_userid[:8]}{len(codes)}"
        code = channel_codes.create_channel_code(scope=hq, account_id=wecom.account.pk, name=state,
                                                 staff_ids=[staff.pk], tag_ids=tags, welcome_text="欢迎", state=state)
        auto_pull.set_channel_code_routes(scope=hq, code_id=code.pk, routes=routes)
        codes[state] = ChannelCode.objects.get(pk=code.pk)
    assert (org.n1_staff.store_id, org.n2_staff.store_id, org.s1_staff.store_id) == (
        org.store_n1.pk, org.store_n2.pk, org.store_s1.pk)

    expected = [beijing.qr_code, tianjin.qr_code, general.qr_code, beijing_runners.qr_code]
    for code, link in zip(codes.values(), expected, strict=True):
        wecom.platform.scan(CORP_ID, code.config_id)
        assert wecom.deliver() == [200]
        assert _welcome_links(wecom) == [link], code.name
