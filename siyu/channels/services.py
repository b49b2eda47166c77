"""Channel accounts (rows, not settings; credentials sealed) shared by every channel."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from django.apps import apps
from django.db import IntegrityError, transaction
from django.db.models import ForeignObjectRel
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_
from django_stubs_ext import StrPromise

from siyu.channels import intake
from siyu.channels.models import AccountKind, AccountType, CallbackMode, ChannelAccount
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import Conflict, NotFound, ValidationFailed


def _check(kind: str, app_id: str, token: str, encoding_aes_key: str, base_url: str) -> None:
    if kind not in AccountKind.values:
        raise ValidationFailed(_("kind is one of %(join)s") % {"join": ', '.join(AccountKind.values)}, field="kind",
                               code="unknown_kind")
    if not app_id or len(app_id) > 64:
        raise ValidationFailed(_("app id is 1-64 characters"), field="app_id", code="app_id_length")
    if not token or len(token) > 64:
        raise ValidationFailed(_("the callback token is 1-64 characters"), field="token", code="token_length")
    if encoding_aes_key and len(encoding_aes_key) != 43:
        raise ValidationFailed(_("the EncodingAESKey is 43 characters"), field="encoding_aes_key",
                               code="encoding_aes_key_format")
    if not base_url.startswith(("http://", "https://")):
        raise ValidationFailed(_("the API base URL starts with http:// or https://"), field="base_url",
                               code="base_url_format")


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
        raise ValidationFailed(_("this app belongs to another enterprise"), field="app_id",
                               code="account_elsewhere")
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
        summary=audit.text(N_("%(kind)s %(app_id)s"), kind=audit.label(AccountKind(kind).label), app_id=app_id),
    )
    return account


def prune_callback_records(*, at: datetime | None = None) -> dict[str, int]:
    """Periodic: replay keys past the timestamp window, old refusal counts and old refused bodies."""
    return intake.prune(at=at)


# ---------------------------------------------------------------------------------------------------------------
# Accounts as HQ edits them (console and API, through siyu.setup): secrets write-only, a blank one keeps the old


DEFAULT_BASE_URLS: dict[str, str] = {
    AccountKind.WECOM: "https://qyapi.weixin.qq.com",
    AccountKind.OFFICIAL_ACCOUNT: "https://api.weixin.qq.com",
    AccountKind.MINIPROGRAM: "https://api.weixin.qq.com",
}
_APP_ID = {
    AccountKind.WECOM: (re.compile(r"^w[wx][0-9A-Za-z]{6,30}$"),
                        _("a corp id is ww (or wx) and 6-30 letters or digits")),
    AccountKind.OFFICIAL_ACCOUNT: (re.compile(r"^wx[0-9A-Za-z]{6,30}$"),
                                   _("an appid is wx and 6-30 letters or digits")),
    AccountKind.MINIPROGRAM: (re.compile(r"^wx[0-9A-Za-z]{6,30}$"), _("an appid is wx and 6-30 letters or digits")),
}
_AGENT_ID = re.compile(r"^[0-9]{1,10}$")
_SECRET = re.compile(r"^[\x21-\x7e]{8,128}$")
_TOKEN = re.compile(r"^[A-Za-z0-9]{3,32}$")
_AES_KEY = re.compile(r"^[A-Za-z0-9+/]{43}$")


@dataclass(frozen=True)
class AccountInput:
    """What HQ typed. Empty secret / token / encoding_aes_key on an update keep the stored value."""

    kind: str
    name: str
    app_id: str
    agent_id: str = ""
    secret: str = ""
    token: str = ""
    encoding_aes_key: str = ""
    callback_mode: str = ""
    account_type: str = ""
    base_url: str = ""
    is_active: bool = True


def valid_aes_key(value: str) -> bool:
    """An EncodingAESKey is 43 base64 characters that decode (with the '=' WeCom drops) to a 32-byte AES key."""
    if not _AES_KEY.match(value):
        return False
    try:
        return len(base64.b64decode(value + "=", validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


def _check_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 255:
        raise ValidationFailed(_("the API base URL is an http(s) URL of at most 255 characters"), field="base_url",
                               code="base_url_format")
    return url.rstrip("/")


_FORMATS: tuple[tuple[str, re.Pattern[str], StrPromise], ...] = (
    ("secret", _SECRET, _("the secret is 8-128 printable characters without spaces")),
    ("token", _TOKEN, _("the callback Token is 3-32 letters or digits")),
)


def _check_input(data: AccountInput, *, creating: bool) -> None:
    if data.kind not in AccountKind.values:
        raise ValidationFailed(_("kind is one of %(join)s") % {"join": ', '.join(AccountKind.values)}, field="kind",
                               code="unknown_kind")
    if not data.name.strip() or len(data.name.strip()) > 64:
        raise ValidationFailed(_("the name is 1-64 characters"), field="name", code="name_length")
    pattern, reason = _APP_ID[AccountKind(data.kind)]
    if not pattern.match(data.app_id):
        raise ValidationFailed(reason, field="app_id", code="app_id_format")
    if data.agent_id and (data.kind != AccountKind.WECOM or not _AGENT_ID.match(data.agent_id)):
        raise ValidationFailed(_("the agent id is the WeCom app's AgentId: 1-10 digits"), field="agent_id",
                               code="agent_id_format")
    for field, regex, message in _FORMATS:
        value = getattr(data, field)
        if value and not regex.match(value):
            raise ValidationFailed(message, field=field, code=f"{field}_format")
    if data.encoding_aes_key and not valid_aes_key(data.encoding_aes_key):
        raise ValidationFailed(_("the EncodingAESKey is 43 base64 characters (32 bytes)"), field="encoding_aes_key",
                               code="encoding_aes_key_format")
    _check_kind_rules(data)
    if creating:
        _check_required(data)


def _check_kind_rules(data: AccountInput) -> None:
    if data.callback_mode and data.callback_mode not in CallbackMode.values:
        raise ValidationFailed(
            _("callback_mode is one of %(join)s") % {"join": ', '.join(CallbackMode.values)},
            field="callback_mode",
            code="unknown_callback_mode",
        )
    if data.kind == AccountKind.OFFICIAL_ACCOUNT:
        if data.account_type not in AccountType.values:
            raise ValidationFailed(_("an Official Account is a service or a subscription account"),
                                   field="account_type", code="unknown_oa_type")
    elif data.account_type:
        raise ValidationFailed(_("only an Official Account has a type"), field="account_type",
                               code="type_not_applicable")


def _check_required(data: AccountInput) -> None:
    required = {"secret": data.secret}
    if data.kind in (AccountKind.WECOM, AccountKind.OFFICIAL_ACCOUNT):
        required["token"] = data.token
    if data.kind == AccountKind.WECOM:
        required["encoding_aes_key"] = data.encoding_aes_key
    for field, value in required.items():
        if not value:
            raise ValidationFailed(_("%(field)s is required for a new account") % {"field": field}, field=field,
                                   code="required_new_account")


def _mode(data: AccountInput, account: ChannelAccount, has_key: bool) -> str:
    if data.kind == AccountKind.WECOM:
        return CallbackMode.SAFE  # WeCom callbacks are always encrypted
    mode = data.callback_mode or account.callback_mode or (CallbackMode.SAFE if has_key else CallbackMode.PLAIN)
    if mode != CallbackMode.PLAIN and not has_key:
        raise ValidationFailed(_("compatible and safe mode need the EncodingAESKey"), field="encoding_aes_key",
                               code="encoding_aes_key_required")
    return mode


def _apply(account: ChannelAccount, data: AccountInput) -> list[str]:
    """Set what changed; returns the changed field names (secrets by name only, never their values)."""
    changed = []
    plain = {"name": data.name.strip(), "base_url": _check_url(data.base_url or DEFAULT_BASE_URLS[data.kind]),
             "account_type": data.account_type, "is_active": data.is_active}
    for field, value in plain.items():
        if getattr(account, field) != value:
            setattr(account, field, value)
            changed.append(field)
    if data.token and data.token != account.callback_token:
        account.callback_token = data.token
        changed.append("token")
    if data.secret:
        account.secret = data.secret
        changed.append("secret")
    if data.encoding_aes_key:
        account.encoding_aes_key = data.encoding_aes_key
        changed.append("encoding_aes_key")
    mode = _mode(data, account, bool(account.sealed_aes_key))
    if mode != account.callback_mode:
        account.callback_mode = mode
        changed.append("callback_mode")
    return changed


def save_account(*, enterprise_id: int, account_id: int | None, data: AccountInput, actor: Actor = None
                 ) -> ChannelAccount:
    """Create (account_id None) or edit a channel account of the enterprise. The app id (and agent id) of an
    account are fixed once it exists: identities and callbacks are keyed by them. An app id connected to another
    enterprise is refused without saying which."""
    _check_input(data, creating=account_id is None)
    try:
        with transaction.atomic():
            return _save_account(enterprise_id, account_id, data, actor)
    except IntegrityError as exc:  # the same app saved at the same moment by another request
        raise Conflict(_("this app is already connected"), field="app_id", code="account_exists") from exc


def _save_account(enterprise_id: int, account_id: int | None, data: AccountInput, actor: Actor) -> ChannelAccount:
    if account_id is None:
        existing = ChannelAccount.objects.filter(kind=data.kind, app_id=data.app_id, agent_id=data.agent_id).first()
        if existing is not None and existing.enterprise_id != enterprise_id:
            raise Conflict(_("this app is connected to another enterprise"), field="app_id", code="account_elsewhere")
        if existing is not None:
            raise Conflict(_("this app is already connected: edit it instead"), field="app_id", code="account_exists")
        account = ChannelAccount(enterprise_id=enterprise_id, kind=data.kind, app_id=data.app_id,
                                 agent_id=data.agent_id, callback_mode="")
    else:
        found = ChannelAccount.objects.select_for_update().filter(pk=account_id, enterprise_id=enterprise_id).first()
        if found is None:
            raise NotFound(
                _("channel account %(account_id)s not found") % {"account_id": account_id},
                field="account_id",
            )
        account = found
        if data.kind != account.kind:
            raise ValidationFailed(_("the kind of an account cannot change"), field="kind", code="kind_fixed")
        if data.app_id != account.app_id or data.agent_id != account.agent_id:
            raise ValidationFailed(_("the app id and agent id of an account cannot change: add a new account"),
                                   field="app_id" if data.app_id != account.app_id else "agent_id",
                                   code="account_ids_fixed")
    changed = _apply(account, data)
    _check_not_wiped(account)
    account.save()
    audit.record(enterprise_id=enterprise_id, actor=actor,
                 action="channel_account.create" if account_id is None else "channel_account.update",
                 target_type="channel_account", target_id=account.pk,
                 summary=audit.text(
                     N_("%(kind)s %(app_id)s"), kind=audit.label(AccountKind(account.kind).label),
                     app_id=f"{account.app_id}/{account.agent_id}" if account.agent_id else account.app_id),
                 changes={"fields": changed})
    return account


# ---------------------------------------------------------------------------------------------------------------
# Disabling and deleting


def _check_not_wiped(account: ChannelAccount) -> None:
    """An account disabled by `disable_account` lost its secrets: it is enabled again only with them typed anew
    (an Official Account in plain mode with an empty token would accept a forged signature)."""
    if not account.is_active:
        return
    needed = {"secret": account.sealed_secret}
    if account.kind in (AccountKind.WECOM, AccountKind.OFFICIAL_ACCOUNT):
        needed["token"] = account.callback_token
    if account.kind == AccountKind.WECOM:
        needed["encoding_aes_key"] = account.sealed_aes_key
    for field, value in needed.items():
        if not value:
            raise ValidationFailed(_("this account was disabled and its secrets wiped: type %(field)s again to "
                                     "enable it") % {"field": field}, field=field, code="secrets_wiped")


def _locked_account(enterprise_id: int, account_id: int) -> ChannelAccount:
    found = ChannelAccount.objects.select_for_update().filter(pk=account_id, enterprise_id=enterprise_id).first()
    if found is None:
        raise NotFound(_("channel account %(account_id)s not found") % {"account_id": account_id},
                       field="account_id")
    return found


def disable_account(*, enterprise_id: int, account_id: int, actor: Actor = None) -> ChannelAccount:
    """Stop using an account and wipe its sealed secrets (secret, EncodingAESKey) and callback token: its callbacks
    are refused from now on (they look up active accounts only), nothing calls the platform with it, and its data
    (customers, identities, callbacks, groups) stays. Disabling twice changes nothing the second time."""
    with transaction.atomic():
        account = _locked_account(enterprise_id, account_id)
        if not account.is_active and not (account.sealed_secret or account.sealed_aes_key or account.callback_token):
            return account
        ChannelAccount.objects.filter(pk=account.pk).update(is_active=False, sealed_secret="", sealed_aes_key="",
                                                            callback_token="")
        audit.record(enterprise_id=enterprise_id, actor=actor, action="channel_account.disable",
                     target_type="channel_account", target_id=account.pk,
                     summary=audit.text(N_("%(kind)s %(app_id)s: disabled, secrets wiped"),
                                         kind=audit.label(AccountKind(account.kind).label), app_id=account.app_id))
    account.refresh_from_db()
    return account


# caches that go with the account and hold nothing of the brand's: deleted with it, never "in use"
TRANSIENT_RECORDS = frozenset({"wecom.AccessToken", "official_account.AccessToken", "official_account.OAuthState"})


def account_usage(account: ChannelAccount) -> dict[str, int]:
    """The records that name the account (one EXISTS-like count per referencing table, capped): deleting the
    account would delete them with it, so it is refused while any exist."""
    usage: dict[str, int] = {}
    # every reverse relation, the related_name="+" ones included (Options.related_objects leaves those out)
    for relation in ChannelAccount._meta.get_fields(include_hidden=True):
        if not isinstance(relation, ForeignObjectRel) or relation.many_to_many:
            continue
        model = relation.related_model
        if model._meta.label in TRANSIENT_RECORDS:
            continue
        count = model._default_manager.filter(**{relation.field.name: account.pk})[:1000].count()
        if count:
            usage[model._meta.label] = count
    return usage


def delete_account(*, enterprise_id: int, account_id: int, actor: Actor = None) -> None:
    """Delete an account nothing refers to yet (e.g. one saved by mistake). One with records is refused
    (Conflict `account_in_use`): disable it instead, which keeps them."""
    with transaction.atomic():
        account = _locked_account(enterprise_id, account_id)
        usage = account_usage(account)
        if usage:
            kinds = sorted({str(apps.get_model(label)._meta.verbose_name_plural) for label in usage})
            raise Conflict(_("this account has records (%(count)s kinds: %(kinds)s); deleting it would delete them "
                             "too: disable it instead") % {"count": len(usage), "kinds": ", ".join(kinds)},
                           field="account_id", code="account_in_use")
        ChannelAccount.objects.filter(pk=account.pk).delete()
        audit.record(enterprise_id=enterprise_id, actor=actor, action="channel_account.delete",
                     target_type="channel_account", target_id=account_id,
                     summary=audit.text(N_("%(kind)s %(app_id)s"), kind=audit.label(AccountKind(account.kind).label),
                                        app_id=account.app_id))
