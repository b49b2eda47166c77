"""Wires an Official Account row to its API client: credentials unsealed here, the access token cached in the database
(sealed) so every process shares one token instead of each fetching its own and invalidating the others'."""

from __future__ import annotations

import threading

import httpx

from siyu.channels.models import ChannelAccount
from siyu.channels.official_account.client import TIMEOUT, CachedToken, Credentials, OaClient
from siyu.channels.official_account.models import AccessToken
from siyu.core.secretbox import seal, unseal

_local = threading.local()


def _http() -> httpx.Client:
    """One keep-alive HTTP client per thread (httpx clients are not shared across threads here)."""
    client = getattr(_local, "http", None)
    if client is None:
        client = _local.http = httpx.Client(timeout=TIMEOUT)
    return client


class DatabaseTokenStore:
    def __init__(self, account_id: int) -> None:
        self.account_id = account_id

    def load(self) -> CachedToken | None:
        row = AccessToken.objects.filter(account_id=self.account_id).first()
        if row is None:
            return None
        return CachedToken(value=unseal(row.sealed_token), expires_at=row.expires_at)

    def save(self, token: CachedToken) -> None:
        AccessToken.objects.update_or_create(
            account_id=self.account_id,
            defaults={"sealed_token": seal(token.value), "expires_at": token.expires_at},
        )

    def discard(self, value: str) -> None:
        current = self.load()
        if current is not None and current.value == value:
            AccessToken.objects.filter(account_id=self.account_id).delete()


def client_for(account: ChannelAccount) -> OaClient:
    credentials = Credentials(app_id=account.app_id, secret=account.secret, base_url=account.base_url)
    return OaClient(credentials, DatabaseTokenStore(account.pk), http=_http())


# Where users go to authorise: the platform serves the consent page from another host than its API.
AUTHORIZE_HOSTS = {"https://api.weixin.qq.com": "https://open.weixin.qq.com"}


def authorize_base(account: ChannelAccount) -> str:
    base = account.base_url.rstrip("/")
    return AUTHORIZE_HOSTS.get(base, base)


def showqrcode_base(account: ChannelAccount) -> str:
    base = account.base_url.rstrip("/")
    return "https://mp.weixin.qq.com" if base == "https://api.weixin.qq.com" else base
