"""The mini-program login against the simulated platform: code2session, the customer behind openid/unionid, and
the token that authenticates the mall's requests."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from simulator import miniprogram as mp_sim
from siyu.customers.models import Customer, Identity
from siyu.customers.services import IdentityInput, create_customer
from siyu.orders.models import StorefrontSession
from siyu.storefront.services import shopper_login
from tests.conftest import Org
from tests.storefront.conftest import APP_ID, Phone


def test_login_creates_the_customer_and_returns_a_working_token(org: Org, phone: Phone) -> None:
    response = phone.login("alice")
    assert response.status_code == 200, response.content
    body = response.json()
    customer = Customer.objects.get(pk=body["customer_id"])
    assert (customer.enterprise_id, customer.created_source) == (org.enterprise.pk, "miniprogram")
    kinds = dict(Identity.objects.filter(customer=customer).values_list("kind", "value"))
    assert kinds == {"mp_openid": mp_sim.openid_for(APP_ID, "alice"), "unionid": mp_sim.unionid_for("alice")}
    assert body["token"].startswith("sf_")
    session = StorefrontSession.objects.get(customer=customer)
    assert session.token_hash != body["token"] and body["token"] not in session.sealed_session_key
    assert phone.get("/api/storefront/cart").status_code == 200
    again = phone.login("alice")  # a second login finds the same customer
    assert again.json()["customer_id"] == customer.pk


def test_the_unionid_finds_a_customer_known_from_another_app(org: Org, phone: Phone) -> None:
    known = create_customer(enterprise_id=org.enterprise.pk, name="Bob", identities=[
        IdentityInput(kind="unionid", value=mp_sim.unionid_for("bob"))])
    assert phone.login("bob").json()["customer_id"] == known.pk
    assert Identity.objects.filter(customer=known, kind="mp_openid").exists()


def test_bad_codes_and_unknown_apps_are_refused(org: Org, phone: Phone) -> None:
    code = phone.wx_login("carol")["code"]
    first = phone.post("/api/storefront/login", {"appid": APP_ID, "code": code})
    assert first.status_code == 200
    reused = phone.post("/api/storefront/login", {"appid": APP_ID, "code": code})
    assert (reused.status_code, reused.json()["code"], reused.json()["field"]) == (422, "invalid_code", "code")
    unknown = phone.post("/api/storefront/login", {"appid": "wxnobody", "code": "x"})
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_app")
    assert Customer.objects.count() == 1


def test_a_wrong_secret_is_the_platform_refusing_not_bad_input(org: Org, phone: Phone) -> None:
    from siyu.channels.models import ChannelAccount

    account = ChannelAccount.objects.get(app_id=APP_ID)
    account.secret = "wrong"
    account.save()
    response = phone.login("dave")
    assert (response.status_code, response.json()["code"]) == (502, "miniprogram_rejected")


def test_tokens_expire_and_can_be_revoked(org: Org, phone: Phone) -> None:
    phone.login("erin")
    assert shopper_login.authenticate_customer(phone.token) is not None
    assert shopper_login.authenticate_customer(phone.token, now=timezone.now() + timedelta(days=31)) is None
    assert phone.post("/api/storefront/logout").status_code == 204
    assert phone.get("/api/storefront/cart").status_code == 401
    assert phone.client.get("/api/storefront/cart", headers={"Authorization": "Bearer sf_forged"}).status_code == 401
