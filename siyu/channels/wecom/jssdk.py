"""The JS-SDK configuration a chat-toolbar page needs (wecom-jssdk-sidebar-groups.md §2-§4).

`wx.agentConfig` (the app identity, required for getContext, getCurExternalContact and sendChatMessage) takes the
corp id, the agent id, a timestamp in seconds, a nonce and a signature: the lowercase hex SHA-1 of
`jsapi_ticket=<app ticket>&noncestr=<nonce>&timestamp=<ts>&url=<page url without #...>`, keys in that (ASCII) order,
values raw. The app ticket (ticket/get?type=agent_config) lives 7200 s and is rate-limited (100 per hour per app), so
it is cached per account; the fetch is a network call and is never made inside a database transaction.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from django.core.cache import cache
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrPromise

from siyu.channels.models import ChannelAccount
from siyu.channels.wecom.client import WecomError
from siyu.channels.wecom.provider import client_for
from siyu.core.errors import UpstreamError

TICKET_MARGIN_S = 300


def signature(*, ticket: str, noncestr: str, timestamp: int | str, url: str) -> str:
    plain = f"jsapi_ticket={ticket}&noncestr={noncestr}&timestamp={timestamp}&url={page_url(url)}"
    return hashlib.sha1(plain.encode()).hexdigest()  # noqa: S324 - the platform's documented algorithm


def page_url(url: str) -> str:
    """The URL that is signed: the full page URL with its query, without the fragment."""
    return url.split("#", 1)[0]


@dataclass(frozen=True)
class AgentConfig:
    corpid: str
    agentid: str
    timestamp: int
    nonce_str: str
    signature: str


def _ticket_key(account: ChannelAccount) -> str:
    return f"wecom:agent_ticket:{account.pk}:{account.app_id}:{account.agent_id}"


def _refusal(exc: WecomError, refused: StrPromise) -> str:
    """WeCom's own refusal with its code and message; a failure to reach WeCom at all (a negative code from our
    client: no network, a timeout) as a sentence, not the socket error's English."""
    if isinstance(exc.errcode, int) and exc.errcode < 0:
        return _("WeCom could not be reached (%(errcode)s); try again later") % {"errcode": exc.errcode}
    return refused % {"errcode": exc.errcode, "errmsg": exc.errmsg}


def agent_ticket(account: ChannelAccount) -> str:
    cached = cache.get(_ticket_key(account))
    if isinstance(cached, str) and cached:
        return cached
    try:
        ticket, expires_in = client_for(account).get_agent_ticket()
    except WecomError as exc:
        raise UpstreamError(_refusal(exc, _("WeCom refused the JS-SDK ticket: %(errcode)s %(errmsg)s")),
                            code="wecom_ticket") from exc
    cache.set(_ticket_key(account), ticket, max(60, expires_in - TICKET_MARGIN_S))
    return ticket


def agent_config(account: ChannelAccount, url: str, *, now: float | None = None) -> AgentConfig:
    ticket = agent_ticket(account)
    timestamp = int(now if now is not None else time.time())
    nonce = secrets.token_urlsafe(12)
    return AgentConfig(corpid=account.app_id, agentid=account.agent_id, timestamp=timestamp, nonce_str=nonce,
                       signature=signature(ticket=ticket, noncestr=nonce, timestamp=timestamp, url=url))


MEDIA_TTL_S = 2 * 86400 + 12 * 3600  # temporary media live 3 days; re-upload half a day before


def temp_media(account: ChannelAccount, *, digest: str, kind: str, filename: str, content: bytes,
               content_type: str) -> str:
    """A media_id for this content (uploaded once per account and content digest while it is valid)."""
    key = f"wecom:media:{account.pk}:{kind}:{digest}"
    cached = cache.get(key)
    if isinstance(cached, str) and cached:
        return cached
    try:
        media_id = client_for(account).upload_media(kind=kind, filename=filename, content=content,
                                                    content_type=content_type)
    except WecomError as exc:
        raise UpstreamError(_refusal(exc, _("WeCom refused the upload: %(errcode)s %(errmsg)s")),
                            code="wecom_media") from exc
    cache.set(key, media_id, MEDIA_TTL_S)
    return media_id


IMAGE_TTL_S = 30 * 86400  # an uploadimg URL is kept by WeCom for good; the cache only saves re-uploads


def permanent_image(account: ChannelAccount, *, digest: str, filename: str, content: bytes, content_type: str) -> str:
    """A WeCom-hosted URL for this image (media/uploadimg), uploaded once per account and content digest."""
    key = f"wecom:image:{account.pk}:{digest}"
    cached = cache.get(key)
    if isinstance(cached, str) and cached:
        return cached
    try:
        url = client_for(account).upload_image(filename=filename, content=content, content_type=content_type)
    except WecomError as exc:
        raise UpstreamError(_refusal(exc, _("WeCom refused the upload: %(errcode)s %(errmsg)s")),
                            code="wecom_media") from exc
    cache.set(key, url, IMAGE_TTL_S)
    return url
