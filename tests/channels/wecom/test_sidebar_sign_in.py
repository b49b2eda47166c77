"""The chat sidebar signs its member in with WeCom's in-app authorisation (网页授权 snsapi_base), never with a console
password: opened from the toolbar (`?account=<id>`), the page goes to the simulated client's /connect/oauth2/authorize,
which answers with a code for the member whose chat is open; the code names the staff member, who then sees only the
customers they follow. The state is this session's and single use; the session key changes at sign-in; unsafe
requests still need the CSRF token."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.test import Client

from siyu.customers import services as customer_services
from siyu.org import editing
from siyu.org.scope import scope_for_staff
from tests.channels.wecom.conftest import CORP_ID, Wecom

pytestmark = pytest.mark.django_db(transaction=True)
EXTERNAL = "wmSideOauth1"


def _control(w: Wecom, path: str, body: dict[str, Any]) -> dict[str, Any]:
    return dict(httpx.post(f"{w.server.base_url}/wecom{path}", json=body, timeout=10).json())


@pytest.fixture
def chat(wecom: Wecom) -> int:
    """n1_staff follows 王芳 in WeCom and in Siyu, and has her chat open in the client."""
    wecom.platform.import_follow(CORP_ID, userid="n1_staff", external_userid=EXTERNAL, name="王芳")
    person = customer_services.create_customer(
        enterprise_id=wecom.org.enterprise.pk, name="王芳", phone="13912345678", home_store_id=wecom.org.store_n1.pk,
        identities=[customer_services.IdentityInput(kind="wecom_external_userid", value=EXTERNAL, account=CORP_ID)])
    customer_services.add_relationship(customer=person, staff=wecom.org.n1_staff, added_at=person.created_at)
    _control(wecom, "/_sim/open_chat", {"corp_id": CORP_ID, "userid": "n1_staff", "external_userid": EXTERNAL})
    return int(person.pk)


def _open(w: Wecom, client: Client) -> tuple[str, dict[str, str]]:
    """Open the toolbar page: it sends the browser to WeCom's authorisation; returns that URL and its query."""
    first = client.get("/content/sidebar/", {"account": w.account.pk})
    assert first.status_code == 302 and first["Location"] == f"/content/sidebar/oauth/{w.account.pk}/"
    start = client.get(first["Location"])
    assert start.status_code == 302
    url = start["Location"]
    return url, {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _client_answers(url: str) -> str:
    """What the WeCom client does with the authorisation URL (no fragment is sent): back to us with a code."""
    answer = httpx.get(url.split("#", 1)[0], follow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    return location[location.index("/content/"):]


def test_the_member_whose_chat_is_open_signs_in_and_sees_their_customer(wecom: Wecom, chat: int) -> None:
    client = Client()
    url, query = _open(wecom, client)
    assert url.startswith(f"{wecom.server.base_url}/wecom/connect/oauth2/authorize?") and url.endswith(
        "#wechat_redirect")
    assert (query["appid"], query["agentid"], query["scope"], query["response_type"]) == (
        CORP_ID, "1000002", "snsapi_base", "code")
    assert query["redirect_uri"] == "http://testserver/content/sidebar/oauth/callback/"
    before = client.session.session_key
    callback = _client_answers(url)
    done = client.get(callback)
    assert done.status_code == 302 and done["Location"] == f"/content/sidebar/?account={wecom.account.pk}"
    assert client.session["_auth_user_id"] == str(wecom.org.n1_staff.user_id)
    assert client.session.session_key != before  # a new session key at sign-in (no fixation)
    page = client.get(done["Location"])
    assert page.status_code == 200 and 'id="sb-config"' in page.content.decode()
    contact = client.get("/content/sidebar/contact/", {"external_userid": EXTERNAL}).content.decode()
    assert "王芳" in contact and "139****5678" in contact
    # the code was used once: the same callback in another browser is refused (no state there, and no code)
    assert Client().get(callback).status_code == 403


def test_a_console_session_is_not_enough_inside_wecom(wecom: Wecom, chat: int) -> None:
    """HQ signed in with a password in this browser; the client's member is n1_staff: WeCom decides who it is."""
    client = Client()
    assert wecom.org.hq.user is not None
    client.force_login(wecom.org.hq.user)
    url, _query = _open(wecom, client)
    client.get(_client_answers(url))
    assert client.session["_auth_user_id"] == str(wecom.org.n1_staff.user_id)
    assert client.get(f"/content/sidebar/?account={wecom.account.pk}").status_code == 200
    # opening it for another WeCom app (no confirmation for that one in this session) asks WeCom again
    assert client.get("/content/sidebar/", {"account": wecom.account.pk + 1}).status_code == 302


def test_a_forged_or_foreign_callback_is_refused(wecom: Wecom, chat: int) -> None:
    client = Client()
    url, _ = _open(wecom, client)
    callback = _client_answers(url)
    assert client.get(callback.replace("state=", "state=x")).status_code == 403
    assert "_auth_user_id" not in client.session
    assert client.get(callback).status_code == 403  # the state was used up by the refused try
    other = Client()  # a browser that never started (login CSRF): refused even with a fresh, genuine code
    assert other.get(_client_answers(_open(wecom, Client())[0])).status_code == 403
    assert "_auth_user_id" not in other.session


def test_a_member_who_left_or_is_unknown_is_refused(wecom: Wecom, chat: int) -> None:
    editing.mark_staff_left(scope=scope_for_staff(wecom.org.hq), staff_id=wecom.org.n1_staff.pk)
    client = Client()
    url, _ = _open(wecom, client)
    refused = client.get(_client_answers(url))
    assert refused.status_code == 403 and 'id="sb-refused"' in refused.content.decode()
    assert "_auth_user_id" not in client.session
    assert Client().get("/content/sidebar/oauth/999999/").status_code == 404


def test_unsafe_requests_need_the_csrf_token(wecom: Wecom, chat: int) -> None:
    client = Client(enforce_csrf_checks=True)
    url, _ = _open(wecom, client)
    client.get(_client_answers(url))
    group = customer_services.create_tag_group(enterprise_id=wecom.org.enterprise.pk, name="兴趣")
    tag = customer_services.create_tag(group=group, name="烘焙")
    assert client.post(f"/content/sidebar/contact/{chat}/tags/", {"tag": tag.pk}).status_code == 403
    page = client.get(f"/content/sidebar/?account={wecom.account.pk}")
    token = page.context["csrf_token"]
    tagged = client.post(f"/content/sidebar/contact/{chat}/tags/", {"tag": tag.pk}, HTTP_X_CSRFTOKEN=str(token))
    assert tagged.status_code == 200 and "烘焙 ×" in tagged.content.decode()


def test_the_simulated_client_refuses_a_wrong_scope(wecom: Wecom, chat: int) -> None:
    url, _ = _open(wecom, Client())
    wrong = url.split("#", 1)[0].replace("scope=snsapi_base", "scope=snsapi_login")
    assert httpx.get(wrong, follow_redirects=False, timeout=10).status_code == 400
