"""The mall's invitations page (/m/<brand>/me/invite/): a running task fission offered, joined once however often
tapped, the participant's poster and share link shown, and after two people added staff through their token (and
the 24 hours passed) the page says 2 / 2 and the task done. Signed out: the sign-in page, nothing joined."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from siyu.customers.models import Customer
from siyu.loyalty.models import PointsLot
from siyu.referrals.models import Participant
from tests.conftest import Org
from tests.orders.helpers import Shop
from tests.referrals.helpers import bring, campaign, points_shop, scan
from tests.storefront.mall.conftest import Platforms, base, sms_sign_in

pytestmark = pytest.mark.django_db
PHONE = "13700004444"


def test_join_once_see_the_poster_and_the_progress(client: Client, org: Org, mall_shop: Shop,
                                                   platforms: Platforms) -> None:
    points_shop(mall_shop)
    task = campaign(mall_shop, kind="task", name="邀请好友得 500 积分", target_count=2, window_days=7,
                    reward_points=500)
    away = client.get(f"{base(org)}/me/invite/")
    assert away.status_code == 302 and "/login/" in away["Location"]
    assert client.post(f"{base(org)}/me/invite/{task.pk}/join/").status_code == 302  # to the sign-in page
    assert not Participant.objects.exists()

    assert sms_sign_in(client, org, platforms, PHONE).status_code == 302
    me = Customer.objects.get(enterprise=org.enterprise, phone=PHONE)
    offer = client.get(f"{base(org)}/me/invite/").content.decode()
    assert "邀请好友得 500 积分" in offer and "7 天内邀请 2 位新朋友添加顾问即得奖励" in offer and "立即参加" in offer

    answers = [client.post(f"{base(org)}/me/invite/{task.pk}/join/") for _ in range(2)]
    assert [a.status_code for a in answers] == [302, 302]
    participant = Participant.objects.get()
    assert participant.customer_id == me.pk
    joined = client.get(answers[0]["Location"]).content.decode()
    assert "已参加" in joined and "立即参加" not in joined
    assert f'src="/referrals/r/{participant.token}/poster.png"' in joined
    assert re.search(rf'value="http://testserver/referrals/r/{participant.token}/"', joined)
    assert re.search(r'class="counted">0</strong> / 2 人', joined)

    now = timezone.now()  # events cannot be in the future: the join is moved three days back instead
    Participant.objects.filter(pk=participant.pk).update(joined_at=now - timedelta(days=3),
                                                         deadline_at=now + timedelta(days=4))
    bring(mall_shop, participant, "朋友甲", now - timedelta(days=2, hours=2))
    bring(mall_shop, participant, "朋友乙", now - timedelta(days=2, hours=1))
    scan(mall_shop, now)  # both stayed past 24 hours
    done = client.get(f"{base(org)}/me/invite/").content.decode()
    assert re.search(r'class="counted">2</strong> / 2 人', done) and "任务已完成" in done
    assert "已获奖励 1 次" in done
    assert client.get(f"{base(org)}/me/invite/{task.pk}/join/").status_code == 405
    assert client.post(f"{base(org)}/me/invite/{task.pk + 999}/join/").status_code == 404


def test_an_assistance_is_started_shared_and_helped_once_in_the_mall(client: Client, org: Org, mall_shop: Shop,
                                                                       platforms: Platforms) -> None:
    points_shop(mall_shop)
    assist = campaign(mall_shop, kind="assist", conversion="help", name="好友助力领积分", target_count=1,
                      window_hours=24, reward_points=80, starts_at=timezone.now() - timedelta(days=1))
    assert sms_sign_in(client, org, platforms, PHONE).status_code == 302
    offer = client.get(f"{base(org)}/me/invite/").content.decode()
    assert "24 小时内邀请 1 位好友助力即得奖励" in offer and "发起助力" in offer
    client.post(f"{base(org)}/me/invite/{assist.pk}/join/")
    token = Participant.objects.get().token
    page = f"{base(org)}/assist/{token}/"
    assert re.search(rf'value="http://testserver{re.escape(page)}"', client.get(f"{base(org)}/me/invite/")
                     .content.decode())
    assert client.get(f"/referrals/r/{token}/")["Location"] == page  # the poster's QR lands on the help page
    own = client.post(f"{page}help/")
    assert "不能给自己助力" in client.get(own["Location"]).content.decode()

    friend = Client()
    assert sms_sign_in(friend, org, platforms, "13700005555").status_code == 302
    before = friend.get(page).content.decode()
    assert re.search(r'class="helped">0</strong> / 1', before) and "为好友助力" in before
    helped = friend.post(f"{page}help/")
    after = friend.get(helped["Location"]).content.decode()
    assert "助力成功" in after and "助力已完成" in after and re.search(r'class="helped">1</strong> / 1', after)
    again = friend.get(friend.post(f"{page}help/")["Location"]).content.decode()
    assert "助力已完成" in again
    assert PointsLot.objects.get(key__startswith="referral:assist:").points == 80
