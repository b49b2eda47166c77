"""OAuth web authorisation: the authorize redirect, the code exchange, single-use and expiring codes."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from simulator.state import current
from siyu.customers.models import Customer, Identity
from siyu.customers.services import IdentityInput, create_customer
from tests.channels.oa.conftest import DEMO

pytestmark = pytest.mark.django_db


def start(client, account, scope: str = "snsapi_base", next_url: str = "") -> str:
    response = client.get(f"/oa/oauth/{account.pk}/start/", {"scope": scope, "next": next_url})
    assert response.status_code == 302
    return response["Location"]


def consent(location: str, openid: str) -> str:
    """The user taps "allow" on the platform's page: the simulator redirects back with a code."""
    answer = httpx.get(location.split("#")[0] + f"&sim_openid={openid}", follow_redirects=False)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def back_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_the_authorize_url_has_the_parameters_in_the_required_order(client, account, sim) -> None:
    location = start(client, account, next_url="/shop/")
    assert location.startswith(f"{sim.base_url}/oa/connect/oauth2/authorize?")
    assert location.endswith("#wechat_redirect")
    params = parse_qsl(urlsplit(location.split("#")[0]).query)
    assert [key for key, _value in params] == ["appid", "redirect_uri", "response_type", "scope", "state"]
    values = dict(params)
    assert values["appid"] == DEMO.app_id
    assert values["redirect_uri"] == f"http://testserver/oa/oauth/{account.pk}/callback/"
    assert "%2F" in location  # redirect_uri is URL-encoded
    assert (values["response_type"], values["scope"]) == ("code", "snsapi_base")
    assert values["state"].isalnum() and len(values["state"]) <= 128


def test_a_code_resolves_the_customer_by_openid_and_unionid(client, account, org) -> None:
    wecom = create_customer(enterprise_id=org.enterprise.pk, name="张",
                            identities=[IdentityInput(kind="unionid", value="ou_demo_12")])
    current().oa.add_follower(DEMO.app_id, openid="oOauth", unionid="ou_demo_12", nickname="小张")
    back = consent(start(client, account, scope="snsapi_userinfo", next_url="/shop/"), "oOauth")
    response = client.get(back_path(back))
    assert response.status_code == 302
    assert response["Location"] == "/shop/"
    assert client.session["oa_customer_id"] == wecom.pk
    assert Identity.objects.get(kind="oa_openid").customer_id == wecom.pk
    assert Customer.objects.filter(merged_into__isnull=True).count() == 1


def test_a_visitor_who_does_not_follow_gets_a_new_customer(client, account) -> None:
    location = start(client, account)
    answer = httpx.get(location.split("#")[0], follow_redirects=False)  # no sim_openid: a stranger
    response = client.get(back_path(answer.headers["location"]))
    assert response.status_code == 200
    customer = Customer.objects.get()
    assert customer.created_source == "official_account"
    assert set(Identity.objects.values_list("kind", flat=True)) == {"oa_openid", "unionid"}


def test_a_code_is_single_use(client, account) -> None:
    current().oa.add_follower(DEMO.app_id, openid="oTwice", unionid="ou_demo_13")
    back = consent(start(client, account), "oTwice")
    code = dict(parse_qsl(urlsplit(back).query))["code"]
    assert client.get(back_path(back)).status_code == 200
    # The same code with a fresh state: the platform refuses it (40163), so nothing more happens.
    second = start(client, account)
    state = dict(parse_qsl(urlsplit(second.split("#")[0]).query))["state"]
    response = client.get(f"/oa/oauth/{account.pk}/callback/", {"code": code, "state": state})
    assert response.status_code == 422
    assert b"40163" in response.content


def test_a_state_is_single_use(client, account) -> None:
    current().oa.add_follower(DEMO.app_id, openid="oState", unionid="ou_demo_14")
    back = consent(start(client, account), "oState")
    assert client.get(back_path(back)).status_code == 200
    assert client.get(back_path(back)).status_code == 409


def test_a_code_expires_after_five_minutes(client, account) -> None:
    current().oa.add_follower(DEMO.app_id, openid="oLate", unionid="ou_demo_15")
    back = consent(start(client, account), "oLate")
    current().oa.advance(301)
    response = client.get(back_path(back))
    assert response.status_code == 422
    assert b"42003" in response.content
    assert not Customer.objects.exists()


def test_the_simulator_refuses_parameters_out_of_order(sim) -> None:
    url = (f"{sim.base_url}/oa/connect/oauth2/authorize?redirect_uri=http%3A%2F%2Fa&appid={DEMO.app_id}"
           "&response_type=code&scope=snsapi_base&state=s")
    assert httpx.get(url, follow_redirects=False).status_code == 400


def test_an_open_redirect_next_is_refused(client, account) -> None:
    response = client.get(f"/oa/oauth/{account.pk}/start/", {"scope": "snsapi_base", "next": "//evil.example"})
    assert response.status_code == 400
