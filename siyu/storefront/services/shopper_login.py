"""Shopper sessions: the mini-program login (code2session -> customer, a storefront token), token checks,
logout and product views."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.channels.miniprogram import client as miniprogram
from siyu.channels.models import AccountKind, ChannelAccount
from siyu.core.errors import NotFound, UpstreamError, ValidationFailed
from siyu.core.secretbox import seal
from siyu.customers.queries import IdentityKinds as IdentityKind
from siyu.customers.services import (
    EventInput,
    IdentityInput,
    ingest_events,
    resolve_customer,
)
from siyu.orders.models import (
    StorefrontSession,
)
from siyu.orders.services.common import _event_time, _now

SESSION_DAYS = 30
TOKEN_PREFIX = "sf_"  # noqa: S105 - a prefix, not a secret

# ---------------------------------------------------------------------------------------------------------------
# Storefront sessions (mini-program login)


@dataclass(frozen=True)
class Shopper:
    """The signed-in mall customer behind a storefront request."""

    enterprise_id: int
    customer_id: int
    session_id: int
    app_id: str


@dataclass(frozen=True)
class LoginResult:
    token: str
    expires_at: datetime
    customer_id: int
    openid: str
    unionid: str


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _miniprogram_account(app_id: str) -> ChannelAccount:
    account = ChannelAccount.objects.filter(kind=AccountKind.MINIPROGRAM, app_id=app_id, is_active=True).first()
    if account is None:
        raise NotFound(
            _("no mini-program with appid %(app_id)s") % {"app_id": repr(app_id)},
            field="appid", code="unknown_app",
        )
    return account


def _code2session(account: ChannelAccount, code: str) -> miniprogram.Session:
    try:
        return miniprogram.code2session(base_url=account.base_url, app_id=account.app_id, secret=account.secret,
                                        code=code)
    except miniprogram.TerminalError as exc:
        if exc.errcode in miniprogram.BAD_CODE:
            raise ValidationFailed(_("the login code is invalid or was used already"), field="code",
                                   code="invalid_code") from exc
        raise UpstreamError(
            _("the mini-program platform refused the login (%(errcode)s)") % {"errcode": exc.errcode},
            field="appid", code="miniprogram_rejected",
        ) from exc
    except miniprogram.RetryableError as exc:
        raise UpstreamError(_("the mini-program platform is busy; try again"), code="upstream_unavailable") from exc


def storefront_login(*, app_id: str, code: str, now: datetime | None = None) -> LoginResult:
    """The mall's login: exchange the mini-program `code` for the openid/unionid (code2session), find or create the
    customer behind them (merging when the unionid joins two records), and issue a customer token."""
    moment = _now(now)
    if not isinstance(code, str) or not 1 <= len(code.strip()) <= 128:
        raise ValidationFailed(_("code is 1-128 characters"), field="code", code="invalid_code")
    account = _miniprogram_account((app_id or "").strip())
    session = _code2session(account, code.strip())  # outside the transaction: no row is held during the call
    identities = [IdentityInput(kind=IdentityKind.MINIPROGRAM_OPENID, value=session.openid, account=account.app_id)]
    if session.unionid:
        identities.append(IdentityInput(kind=IdentityKind.UNIONID, value=session.unionid, account=account.app_id))
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = moment + timedelta(days=SESSION_DAYS)
    with transaction.atomic():
        customer = resolve_customer(enterprise_id=account.enterprise_id, identities=identities,
                                    defaults={"created_source": "miniprogram", "created_at": moment})
        StorefrontSession.objects.create(
            enterprise_id=account.enterprise_id, customer=customer, app_id=account.app_id, openid=session.openid,
            sealed_session_key=seal(session.session_key), token_hash=_token_hash(token), created_at=moment,
            expires_at=expires,
        )
    return LoginResult(token=token, expires_at=expires, customer_id=customer.pk, openid=session.openid,
                       unionid=session.unionid)


def authenticate_customer(token: str, *, now: datetime | None = None) -> Shopper | None:
    """The shopper a storefront token belongs to, or None (unknown, expired or revoked)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    moment = now or timezone.now()
    # Raw SQL: every storefront request runs this, and building the ORM query costs more than answering it.
    sessions = connection.ops.quote_name(StorefrontSession._meta.db_table)
    expires = connection.ops.adapt_datetimefield_value(moment)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, enterprise_id, customer_id, app_id FROM {sessions} "  # noqa: S608 - the model's table
            "WHERE token_hash = %s AND revoked_at IS NULL AND expires_at > %s",
            [_token_hash(token), expires],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return Shopper(session_id=row[0], enterprise_id=row[1], customer_id=row[2], app_id=row[3])


def storefront_logout(*, shopper: Shopper, now: datetime | None = None) -> None:
    StorefrontSession.objects.filter(pk=shopper.session_id, revoked_at__isnull=True).update(revoked_at=_now(now))


def record_product_view(*, shopper: Shopper, product_id: int, now: datetime | None = None) -> None:
    """Log `product_viewed` for the mall's product page; repeat views within ten minutes are one event."""
    moment = _now(now)
    bucket = int(moment.timestamp()) // 600
    ingest_events(enterprise_id=shopper.enterprise_id, batch=[EventInput(
        name="product_viewed", occurred_at=_event_time(moment), customer_id=shopper.customer_id,
        channel="miniprogram", properties={"product_id": product_id},
        idempotency_key=f"product_viewed:{shopper.customer_id}:{product_id}:{bucket}",
    )])
