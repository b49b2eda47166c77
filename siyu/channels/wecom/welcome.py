"""Welcome messages (欢迎语): what a customer receives when they add a staff member. A channel code may carry its
own text and attachments; otherwise the account's default welcome applies. `{name}` is the only variable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from siyu.channels.models import ChannelAccount
from siyu.channels.wecom.accounts import wecom_account
from siyu.channels.wecom.models import ChannelCode, DefaultWelcome
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import ValidationFailed
from siyu.org.scope import Scope

ATTACHMENT_KINDS = {"image": ("pic_url",), "link": ("title", "url"), "miniprogram": ("title", "appid", "page")}
WELCOME_TEXT_MAX_BYTES = 4000
MAX_ATTACHMENTS = 9


def clean_attachments(raw: Sequence[Mapping[str, Any]] | None, *, field: str = "welcome_attachments") -> list[dict]:
    """Welcome attachments as the platform takes them: image, link or mini-program card, at most 9."""
    items = list(raw or [])
    if len(items) > MAX_ATTACHMENTS:
        raise ValidationFailed(_("at most 9 attachments"), field=field, code="too_many_attachments")
    clean = []
    for index, item in enumerate(items):
        kind = str(item.get("msgtype", ""))
        required = ATTACHMENT_KINDS.get(kind)
        if required is None:
            raise ValidationFailed(_("msgtype must be image, link or miniprogram"), field=field, index=index,
                                   code="unknown_msgtype")
        body = item.get(kind)
        if not isinstance(body, Mapping) or any(not str(body.get(key, "")).strip() for key in required):
            raise ValidationFailed(
                _("%(kind)s needs %(join)s") % {"kind": kind, "join": ', '.join(required)},
                field=field, index=index,
                code="invalid_value",
            )
        clean.append({"msgtype": kind, kind: {str(k): str(v)[:512] for k, v in body.items()}})
    return clean


def clean_welcome(text: str) -> str:
    if len(text.encode()) > WELCOME_TEXT_MAX_BYTES:
        raise ValidationFailed(_("the welcome text is at most 4000 bytes"), field="welcome_text",
                               code="text_length")
    return text.strip()


@transaction.atomic
def set_default_welcome(
    *, scope: Scope, account_id: int, text: str, attachments: Sequence[Mapping[str, Any]] = (), actor: Actor = None
) -> DefaultWelcome:
    account = wecom_account(account_id, enterprise_id=scope.enterprise_id)
    row, _ignored = DefaultWelcome.objects.update_or_create(
        account=account, defaults={"text": clean_welcome(text), "attachments": clean_attachments(attachments)}
    )
    audit.record(enterprise_id=scope.enterprise_id,
                 actor=actor, action="wecom.welcome.default", target_type="channel_account", target_id=account.pk)
    return row


def welcome_for(account: ChannelAccount, code: ChannelCode | None) -> tuple[str, list[dict[str, Any]]]:
    if code is not None and (code.welcome_text or code.welcome_attachments):
        return code.welcome_text, list(code.welcome_attachments)
    default = DefaultWelcome.objects.filter(account=account).first()
    if default is None:
        return "", []
    return default.text, list(default.attachments)


def render_welcome(text: str, *, name: str) -> str:
    """`{name}` is the customer's WeCom name; nothing else is a variable (braces stay as written)."""
    return text.replace("{name}", name).strip()
