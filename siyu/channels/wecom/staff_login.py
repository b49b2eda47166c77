"""Staff sign-in with their WeCom identity (企业微信扫码登录 / web OAuth).

The console sends the browser to WeCom's sign-in page with the corp id, the app's agent id, our callback URL and a
random `state` kept in the session; WeCom (the simulator in the demo) redirects back with a one-time `code` and the
state. The state must equal the session's (or the sign-in was not started here: CSRF), then the code is exchanged for
the member's userid with the corp's access token (/cgi-bin/auth/getuserinfo), and the userid names the staff member
who signs in. Staff who have left, or userids Siyu does not know, are refused.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.utils.translation import gettext_lazy as _

from siyu.channels.models import AccountKind, ChannelAccount
from siyu.channels.wecom.accounts import upstream_error, wecom_account
from siyu.channels.wecom.client import WecomError
from siyu.channels.wecom.provider import client_for
from siyu.core.errors import PermissionDenied, ValidationFailed
from siyu.org import editing
from siyu.org import queries as org_queries

PRODUCTION_API = "https://qyapi.weixin.qq.com"
PRODUCTION_SSO = "https://login.work.weixin.qq.com/wwlogin/sso/login"
PRODUCTION_OAUTH = "https://open.weixin.qq.com/connect/oauth2/authorize"


@dataclass(frozen=True)
class SignInOption:
    account_id: int
    name: str


def sign_in_options() -> list[SignInOption]:
    """The WeCom apps a staff member may sign in through (active, with an agent id: web sign-in is per app)."""
    rows = ChannelAccount.objects.filter(kind=AccountKind.WECOM, is_active=True).exclude(agent_id="").order_by("id")
    return [SignInOption(account_id=a.pk, name=a.name) for a in rows]


def new_state() -> str:
    return secrets.token_urlsafe(24)


def authorize_url(*, account_id: int, redirect_uri: str, state: str) -> str:
    account = wecom_account(account_id)
    if not account.is_active or not account.agent_id:
        raise ValidationFailed(_("this WeCom app cannot be used to sign in"), field="account_id",
                               code="sign_in_not_allowed")
    base = account.base_url.rstrip("/")
    sso = PRODUCTION_SSO if base.startswith(PRODUCTION_API) else f"{base}/wwlogin/sso/login"
    query = {"login_type": "CorpApp", "appid": account.app_id, "agentid": account.agent_id,
             "redirect_uri": redirect_uri, "state": state}
    return f"{sso}?{urlencode(query)}"


def oauth_url(*, account_id: int, redirect_uri: str, state: str) -> str:
    """WeCom's in-app web authorisation (网页授权, snsapi_base): a page opened inside the WeCom client (the chat
    toolbar) is sent here and comes back at once with a code for the member using the client; the code is exchanged
    by `user_for_code` as for the web sign-in."""
    account = wecom_account(account_id)
    if not account.is_active or not account.agent_id:
        raise ValidationFailed(_("this WeCom app cannot be used to sign in"), field="account_id",
                               code="sign_in_not_allowed")
    base = account.base_url.rstrip("/")
    page = PRODUCTION_OAUTH if base.startswith(PRODUCTION_API) else f"{base}/connect/oauth2/authorize"
    query = {"appid": account.app_id, "redirect_uri": redirect_uri, "response_type": "code", "scope": "snsapi_base",
             "state": state, "agentid": account.agent_id}
    return f"{page}?{urlencode(query)}#wechat_redirect"


def check_state(*, expected: str | None, received: str) -> None:
    if not expected or not received or not secrets.compare_digest(expected, received):
        raise PermissionDenied(_("the sign-in was not started from this browser; start again"))


def user_for_code(*, account_id: int, code: str) -> Any:
    """The console user of the staff member the code names (exchanged with WeCom; no transaction is open)."""
    if not code or len(code) > 512:
        raise ValidationFailed(_("missing sign-in code"), field="code", code="missing_sign_code")
    account = wecom_account(account_id)
    if not account.is_active:
        raise PermissionDenied(_("this WeCom app is switched off"))
    try:
        data = client_for(account).call("GET", "/cgi-bin/auth/getuserinfo", params={"code": code})
    except WecomError as exc:
        if exc.retryable:
            raise upstream_error(exc) from exc
        raise PermissionDenied(_("WeCom did not confirm this sign-in; start again")) from exc
    userid = str(data.get("userid") or data.get("UserId") or "")
    staff = org_queries.staff_by_wecom_userid(account.enterprise_id, userid)
    if staff is None:
        raise PermissionDenied(_("this WeCom member is not a staff member here; ask HQ to add them"))
    return editing.user_for_staff(staff_id=staff.pk)
