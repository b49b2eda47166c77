from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import PermissionDenied, ValidationFailed
from siyu.org.models import ApiToken, LoginFailure, Staff
from siyu.org.queries import login_username
from siyu.org.scope import Scope, scope_for_staff

TOKEN_PREFIX = "siyu_"  # noqa: S105 - a public prefix, not a secret


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def create_api_token(*, staff: Staff, name: str, actor: Actor = None) -> tuple[ApiToken, str]:
    """Create a token and return it with its secret; the secret is shown once and never stored."""
    name = name.strip()
    if not name or len(name) > 120:
        raise ValidationFailed(_("token name must be 1-120 characters"), field="name", code="name_length")
    if not staff.is_active:
        raise ValidationFailed(_("this staff member is no longer active"), field="staff_id", code="inactive_staff")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(staff=staff, name=name, prefix=secret[:12], token_hash=_hash(secret))
    summary = f"{name} ({token.prefix}…)"
    audit.record(enterprise_id=staff.enterprise_id,
                 actor=actor, action="api_token.create", target_type="staff", target_id=staff.pk, summary=summary)
    return token, secret


def authenticate_token(secret: str) -> Scope:
    token = (
        ApiToken.objects.select_related("staff")
        .filter(token_hash=_hash(secret), revoked_at__isnull=True)
        .first()
    )
    if token is None:
        raise PermissionDenied(_("invalid or revoked API token"))
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return scope_for_staff(token.staff)


@transaction.atomic
def revoke_api_token(*, token_id: int, actor: Actor = None) -> bool:
    """Revoke at once (the next request with it is refused). False when it was already revoked."""
    token = ApiToken.objects.select_for_update().select_related("staff").filter(pk=token_id).first()
    if token is None or token.revoked_at is not None:
        return False
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    summary = f"{token.name} ({token.prefix}…)"
    audit.record(enterprise_id=token.staff.enterprise_id,
                 actor=actor, action="api_token.revoke", target_type="staff", target_id=token.staff_id, summary=summary)
    return True


# ---------------------------------------------------------------------------------------------------------------
# Sign-in rate limit (the reads are in queries.login_retry_at)


def record_login_failure(*, username: str, ip: str, now: datetime | None = None) -> None:
    LoginFailure.objects.create(username=login_username(username), ip=ip, at=now or timezone.now())


def clear_login_failures(*, username: str) -> int:
    """A successful sign-in forgets the account's failures (the address's failures under other names still count)."""
    deleted, _ignored = LoginFailure.objects.filter(username=login_username(username)).delete()
    return deleted


def purge_login_failures(*, now: datetime | None = None) -> int:
    """Delete failures older than the window: they no longer count. One statement, safe to run twice."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.SIYU_LOGIN_WINDOW_S)
    deleted, _ignored = LoginFailure.objects.filter(at__lt=cutoff).delete()
    return deleted
