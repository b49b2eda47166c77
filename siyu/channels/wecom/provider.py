"""WeCom as a provider of Siyu's channel capabilities, and the factory of API clients per account.

The Protocols name what the rest of Siyu may ask of a customer-contact channel; `client_for(account)` gives the WeCom
implementation, pointed at the account's base URL, with its access token cached in the database (one token per
account shared by the web and worker processes, as the platform hands out one valid token at a time).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, Protocol

import httpx
from django.db import transaction

from siyu.channels.models import ChannelAccount
from siyu.channels.wecom.client import TOKEN_MARGIN_S, ContactDetail, WecomClient
from siyu.channels.wecom.models import AccessToken
from siyu.core.secretbox import seal, unseal
from siyu.core.timeutil import now


class SendsWelcome(Protocol):
    def send_welcome_msg(
        self, *, welcome_code: str, text: str = "", attachments: Sequence[Mapping[str, Any]] = ()
    ) -> None: ...


class ReadsContacts(Protocol):
    def get_external_contact(self, external_userid: str, *, cursor: str = "") -> ContactDetail: ...


class DbTokenStore:
    """The account's access token in the AccessToken table (sealed), refreshed before it expires."""

    def __init__(self, account_id: int) -> None:
        self.account_id = account_id

    def get(self) -> str | None:
        row = AccessToken.objects.filter(account_id=self.account_id, expires_at__gt=now()).first()
        return unseal(row.sealed_token) if row is not None else None

    def put(self, token: str, expires_in: int) -> None:
        expires_at = now() + timedelta(seconds=max(0, expires_in - TOKEN_MARGIN_S))
        with transaction.atomic():
            AccessToken.objects.update_or_create(
                account_id=self.account_id, defaults={"sealed_token": seal(token), "expires_at": expires_at}
            )

    def invalidate(self, token: str) -> None:
        row = AccessToken.objects.filter(account_id=self.account_id).first()
        if row is not None and unseal(row.sealed_token) == token:
            row.delete()


_HTTP: httpx.Client | None = None


def _shared_http() -> httpx.Client:
    global _HTTP
    if _HTTP is None:
        _HTTP = httpx.Client(timeout=httpx.Timeout(10.0, connect=3.0))
    return _HTTP


def client_for(account: ChannelAccount) -> WecomClient:
    return WecomClient(
        base_url=account.base_url,
        corp_id=account.app_id,
        secret=account.secret,
        token_store=DbTokenStore(account.pk),
        http=_shared_http(),
    )
