"""Mall sign-in: Official Account web OAuth (state single-use and bound to the browser session) and phone + SMS
code (hashed, expiring, rate-limited), both ending in the one customer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.test import Client
from django.utils import timezone

from simulator.state import current
from siyu.customers.models import Customer, Identity
from siyu.customers.services import IdentityInput, create_customer
from siyu.orders.models import StorefrontSession
from siyu.storefront.models import SmsCode
from tests.conftest import Org
from tests.storefront.mall.conftest import DEMO, Platforms, base, oauth_sign_in, path_of, sms_sign_in

pytestmark = pytest.mark.django_db


def test_the_oa_menu_link_signs_the_follower_in_as_the_customer_they_already_are(
    client: Client, org: Org, oa_account: Any,
) -> None:
    known = create_customer(enterprise_id=org.enterprise.pk, name="老顾客",
                            identities=[IdentityInput(kind="unionid", value="ou_mall_1")])
    current().oa.add_follower(DEMO.app_id, openid="oMall1", unionid="ou_mall_1")
    done = oauth_sign_in(client, org, "oMall1", next_url=f"{base(org)}/cart/")
    assert done.status_code == 302
    assert done["Location"] == f"{base(org)}/cart/"
    session = StorefrontSession.objects.get()
    assert (session.customer_id, session.openid, session.app_id) == (known.pk, "oMall1", DEMO.app_id)
    assert client.get(f"{base(org)}/cart/").status_code == 200  # signed in: no bounce to the login page
    assert Customer.objects.filter(merged_into__isnull=True).count() == 1


def test_the_oauth_state_belongs_to_the_browser_that_started_it(client: Client, org: Org, oa_account: Any) -> None:
    current().oa.add_follower(DEMO.app_id, openid="oMall2", unionid="ou_mall_2")
    start = client.get(f"{base(org)}/login/wechat/")
    consent = httpx.get(start["Location"].split("#")[0] + "&sim_openid=oMall2", follow_redirects=False)
    back = path_of(consent.headers["location"])
    stranger = Client()
    refused = stranger.get(back)  # a link forwarded to another browser (login CSRF) is refused
    assert refused.status_code == 422
    assert b"state_mismatch" in refused.content
    assert StorefrontSession.objects.count() == 0
    assert client.get(back).status_code == 302  # the browser that started it completes it
    assert client.get(back).status_code == 422  # and only once: the state is spent
    assert StorefrontSession.objects.count() == 1


def test_a_phone_code_signs_in_once_and_is_stored_only_as_a_hash(
    client: Client, org: Org, platforms: Platforms,
) -> None:
    done = sms_sign_in(client, org, platforms, "13900001111")
    assert done.status_code == 302, done.content.decode()
    customer = Customer.objects.get(phone="13900001111")
    assert Identity.objects.filter(customer=customer, kind="phone", value="13900001111").exists()
    row = SmsCode.objects.get()
    code = platforms.state.sms.last_code("13900001111")
    assert code not in row.code_hash and len(row.code_hash) == 64 and row.used_at is not None
    again = Client().post(f"{base(org)}/login/sms/", {"phone": "13900001111", "code": code})
    assert again.status_code == 422  # spent


def test_wrong_codes_lock_the_code_after_five_tries(client: Client, org: Org, platforms: Platforms) -> None:
    client.post(f"{base(org)}/login/sms/send/", {"phone": "13900002222"})
    code = platforms.state.sms.last_code("13900002222")
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    answers = [client.post(f"{base(org)}/login/sms/", {"phone": "13900002222", "code": wrong}).status_code
               for _ in range(5)]
    assert answers == [422] * 5
    locked = client.post(f"{base(org)}/login/sms/", {"phone": "13900002222", "code": code})
    assert locked.status_code == 429  # even the right code, once five wrong ones were tried
    assert StorefrontSession.objects.count() == 0


def test_sending_codes_is_rate_limited_per_phone(client: Client, org: Org, platforms: Platforms) -> None:
    assert client.post(f"{base(org)}/login/sms/send/", {"phone": "13900003333"}).status_code == 302
    soon = client.post(f"{base(org)}/login/sms/send/", {"phone": "13900003333"})
    assert soon.status_code == 429 and int(soon["Retry-After"]) <= 60
    assert len(platforms.state.sms.messages("13900003333")) == 1
    # Five in the hour (spaced past the 60 s resend wait), then no more for that number.
    SmsCode.objects.update(created_at=timezone.now() - timedelta(minutes=50))
    for minutes in (40, 30, 20, 10):
        assert client.post(f"{base(org)}/login/sms/send/", {"phone": "13900003333"}).status_code == 302
        SmsCode.objects.filter(created_at__gt=timezone.now() - timedelta(seconds=30)).update(
            created_at=timezone.now() - timedelta(minutes=minutes))
    assert client.post(f"{base(org)}/login/sms/send/", {"phone": "13900003333"}).status_code == 429
    assert len(platforms.state.sms.messages("13900003333")) == 5


@pytest.mark.parametrize("phone", ["12345", "1390000111x", "23900001111", "1" * 5000])
def test_a_bad_phone_number_is_a_422_naming_the_field(client: Client, org: Org, platforms: Platforms,
                                                      phone: str) -> None:
    answer = client.post(f"{base(org)}/login/sms/send/", {"phone": phone})
    assert answer.status_code == 422
    assert b'data-field="phone"' in answer.content
    assert SmsCode.objects.count() == 0


def test_phone_sign_in_after_oauth_is_one_customer_that_can_still_pay_by_openid(
    client: Client, org: Org, oa_account: Any, platforms: Platforms,
) -> None:
    current().oa.add_follower(DEMO.app_id, openid="oMall3", unionid="ou_mall_3")
    oauth_sign_in(client, org, "oMall3")
    by_phone = create_customer(enterprise_id=org.enterprise.pk, name="会员",
                               identities=[IdentityInput(kind="phone", value="13900004444")])
    assert sms_sign_in(client, org, platforms, "13900004444").status_code == 302
    alive = Customer.objects.filter(enterprise=org.enterprise, merged_into__isnull=True)
    assert alive.count() == 1
    merged = alive.get()
    assert merged.pk == min(by_phone.pk, Identity.objects.get(kind="oa_openid").customer_id)
    assert set(Identity.objects.filter(customer=merged).values_list("kind", flat=True)) >= {"oa_openid", "phone"}
    latest = StorefrontSession.objects.order_by("-id").first()
    assert latest is not None and (latest.customer_id, latest.openid) == (merged.pk, "oMall3")


def test_another_brand_in_the_url_does_not_see_this_session(client: Client, org: Org, platforms: Platforms) -> None:
    from tests.factories import EnterpriseFactory

    other = EnterpriseFactory.create(code="other-brand", name="别家")
    sms_sign_in(client, org, platforms, "13900005555")
    assert client.get(f"{base(org)}/orders/").status_code == 200
    bounced = client.get(f"/m/{other.code}/orders/")
    assert bounced.status_code == 302 and bounced["Location"].startswith(f"/m/{other.code}/login/")
    assert client.get("/m/no-such-brand/").status_code == 404


def test_next_after_sign_in_stays_inside_the_mall(client: Client, org: Org, platforms: Platforms) -> None:
    client.post(f"{base(org)}/login/sms/send/", {"phone": "13900006666"})
    code = platforms.state.sms.last_code("13900006666")
    done = client.post(f"{base(org)}/login/sms/", {"phone": "13900006666", "code": code,
                                                   "next": "https://evil.example/"})
    assert done["Location"] == f"{base(org)}/"


def test_posts_need_the_csrf_token(org: Org, platforms: Platforms) -> None:
    strict = Client(enforce_csrf_checks=True)
    assert strict.post(f"{base(org)}/login/sms/send/", {"phone": "13900007777"}).status_code == 403
    assert platforms.state.sms.messages("13900007777") == []
