"""Channel accounts (rows, not settings; credentials sealed) shared by every channel."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from siyu.channels import intake
from siyu.channels.models import AccountKind, CallbackMode, ChannelAccount
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import ValidationFailed


def _check(kind: str, app_id: str, token: str, encoding_aes_key: str, base_url: str) -> None:
    if kind not in AccountKind.values:
        raise ValidationFailed(f"kind is one of {', '.join(AccountKind.values)}", field="kind")
    if not app_id or len(app_id) > 64:
        raise ValidationFailed("app id is 1-64 characters", field="app_id")
    if not token or len(token) > 64:
        raise ValidationFailed("the callback token is 1-64 characters", field="token")
    if encoding_aes_key and len(encoding_aes_key) != 43:
        raise ValidationFailed("the EncodingAESKey is 43 characters", field="encoding_aes_key")
    if not base_url.startswith(("http://", "https://")):
        raise ValidationFailed("the API base URL starts with http:// or https://", field="base_url")


@transaction.atomic
def ensure_account(
    *,
    enterprise_id: int,
    kind: str,
    name: str,
    app_id: str,
    agent_id: str = "",
    secret: str = "",
    token: str,
    encoding_aes_key: str = "",
    base_url: str,
    actor: Actor = None,
) -> ChannelAccount:
    """Create the account, or update its credentials and base URL when one with this app id exists."""
    _check(kind, app_id, token, encoding_aes_key, base_url)
    account = ChannelAccount.objects.select_for_update().filter(kind=kind, app_id=app_id, agent_id=agent_id).first()
    created = account is None
    if account is None:
        account = ChannelAccount(enterprise_id=enterprise_id, kind=kind, app_id=app_id, agent_id=agent_id)
    elif account.enterprise_id != enterprise_id:
        raise ValidationFailed("this app belongs to another enterprise", field="app_id")
    account.name = name[:64]
    account.callback_token = token
    account.encoding_aes_key = encoding_aes_key
    account.secret = secret
    account.base_url = base_url
    if kind == AccountKind.WECOM:
        account.callback_mode = CallbackMode.SAFE  # WeCom callbacks are always encrypted
    elif created or not encoding_aes_key:
        account.callback_mode = CallbackMode.SAFE if encoding_aes_key else CallbackMode.PLAIN
    account.is_active = True
    account.save()
    audit.record(
        enterprise_id=enterprise_id,
        actor=actor,
        action="channel_account.create" if created else "channel_account.update",
        target_type="channel_account",
        target_id=account.pk,
        summary=f"{kind} {app_id}",
    )
    return account


def prune_callback_records(*, at: datetime | None = None) -> dict[str, int]:
    """Periodic: replay keys past the timestamp window, old refusal counts and old refused bodies."""
    return intake.prune(at=at)
