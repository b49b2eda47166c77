"""The API client against the simulator: token caching and refresh, error sorting, user info."""

from __future__ import annotations

import httpx
import pytest

from simulator.state import current
from siyu.channels.official_account.client import (
    Credentials,
    MemoryTokenStore,
    OaClient,
    RetryableError,
    TerminalError,
)
from siyu.channels.official_account.models import AccessToken
from siyu.channels.official_account.provider import client_for
from siyu.core.secretbox import unseal
from tests.channels.oa.conftest import DEMO

pytestmark = pytest.mark.django_db


class Counting(httpx.Client):
    def __init__(self) -> None:
        super().__init__(timeout=5)
        self.paths: list[str] = []

    def request(self, method, url, **kwargs):
        self.paths.append(httpx.URL(str(url)).path)
        return super().request(method, url, **kwargs)


def test_the_token_is_fetched_once_and_cached_sealed_in_the_database(account) -> None:
    current().oa.add_follower(DEMO.app_id, openid="oA", unionid="ou_demo_1")
    client = client_for(account)
    client.user_info("oA")
    client.user_info("oA")
    row = AccessToken.objects.get(account=account)
    assert unseal(row.sealed_token) in current().oa.tokens
    assert row.sealed_token != unseal(row.sealed_token)
    assert len(current().oa.tokens) == 1


def test_an_expired_token_is_refreshed_on_42001_and_the_call_succeeds(account, sim) -> None:
    current().oa.add_follower(DEMO.app_id, openid="oB", unionid="ou_demo_2")
    http = Counting()
    store = MemoryTokenStore()
    client = OaClient(Credentials(DEMO.app_id, DEMO.secret, sim.base_url + "/oa"), store, http=http)
    client.user_info("oB")
    first = store.token
    current().oa.expire_tokens(DEMO.app_id)  # the platform says 42001 though our cache thinks it is fresh
    info = client.user_info("oB")
    assert info.unionid == "ou_demo_2"
    assert store.token is not None and first is not None
    assert store.token.value != first.value
    assert http.paths == ["/oa/cgi-bin/token", "/oa/cgi-bin/user/info", "/oa/cgi-bin/user/info",
                          "/oa/cgi-bin/token", "/oa/cgi-bin/user/info"]


def test_an_unknown_token_40001_is_also_refreshed(account) -> None:
    current().oa.add_follower(DEMO.app_id, openid="oC", unionid="ou_demo_3")
    client = client_for(account)
    client.user_info("oC")
    current().oa.tokens.clear()  # e.g. another process fetched a new one and this one was revoked
    assert client.user_info("oC").openid == "oC"


def test_a_wrong_secret_is_terminal_40001(sim) -> None:
    client = OaClient(Credentials(DEMO.app_id, "wrong", sim.base_url + "/oa"), MemoryTokenStore())
    with pytest.raises(TerminalError) as caught:
        client.access_token()
    assert caught.value.errcode == 40001


def test_an_unknown_appid_is_terminal_40013(sim) -> None:
    client = OaClient(Credentials("wxnotregistered", "x", sim.base_url + "/oa"), MemoryTokenStore())
    with pytest.raises(TerminalError) as caught:
        client.access_token()
    assert caught.value.errcode == 40013


def test_an_unknown_openid_is_terminal_40003_and_quota_is_retryable_45009(account) -> None:
    client = client_for(account)
    with pytest.raises(TerminalError) as unknown:
        client.user_info("oNobody")
    assert unknown.value.errcode == 40003
    current().oa.add_follower(DEMO.app_id, openid="oD")
    current().oa.app(DEMO.app_id).quotas["user/info"] = 1
    with pytest.raises(RetryableError) as quota:
        client.user_info("oD")
    assert quota.value.errcode == 45009


def test_network_failure_is_retryable() -> None:
    client = OaClient(Credentials(DEMO.app_id, DEMO.secret, "http://127.0.0.1:9"), MemoryTokenStore())
    with pytest.raises(RetryableError):
        client.access_token()


def test_user_info_of_a_follower_and_of_someone_who_left(account) -> None:
    current().oa.add_follower(DEMO.app_id, openid="oE", unionid="ou_demo_5")
    current().oa.add_follower(DEMO.app_id, openid="oF", unionid="ou_demo_6", subscribed=False)
    client = client_for(account)
    following, gone = client.user_info("oE"), client.user_info("oF")
    assert (following.subscribed, following.unionid) == (True, "ou_demo_5")
    assert (gone.subscribed, gone.unionid) == (False, "")  # no unionid for users who do not follow
    batch = client.user_info_batch(["oE", "oF"])
    assert [(u.openid, u.subscribed) for u in batch] == [("oE", True), ("oF", False)]
