"""Group welcome templates (入群欢迎语素材): what WeCom sends to a customer who joins a group.

The platform keeps the templates (`externalcontact/group_welcome_template/{add,edit,get,del}`,
wecom-jssdk-sidebar-groups.md §13): ≤100 per corp (41055), each edited or deleted only by the app that made it
(41058), text ≤3000 bytes (the add page's limit; the edit page says 4000, the smaller holds for both) and at most one
attachment, an image, a link or a mini-program card. There is no API that applies a template to a group: owners pick
it in the client (`notify` tells them when it is made). Siyu binds a template to a group code (all its groups) or to
one group, so the group pages show owners which template to apply.

Pushes go through the outbox: the add is keyed by the template row and its version, the platform's template_id is
recorded from its answer, and every later change is an edit (or the delete) of that id, each keyed by the version it
carries. A change made while the add is still on its way is pushed when the add's answer comes back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from siyu.channels.models import ChannelAccount
from siyu.channels.wecom import attachment_sources
from siyu.channels.wecom.accounts import wecom_account
from siyu.channels.wecom.client import WecomError
from siyu.channels.wecom.models import (
    CustomerGroup,
    GroupCode,
    GroupCodeStatus,
    GroupWelcome,
    GroupWelcomeBinding,
    GroupWelcomeStatus,
    OutboundCall,
)
from siyu.channels.wecom.outbox import REF, enqueue_call, on_failure, on_success
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.org import queries as org_queries
from siyu.org.scope import Scope

TEXT_MAX_BYTES = 3000
TEMPLATES_PER_CORP = 100
LINK_TITLE_MAX_BYTES = 128
LINK_DESC_MAX_BYTES = 512
MINIPROGRAM_TITLE_MAX_BYTES = 64
URL_MAX = 500
NICKNAME = "%NICKNAME%"  # replaced by the joiner's nickname (case-sensitive, may repeat)

# Fields each attachment kind takes; the required ones must be non-empty.
ATTACHMENT_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "image": ((), ("media_id", "pic_url")),  # one of the two
    "link": (("title", "url"), ("picurl", "desc")),
    "miniprogram": (("title", "pic_media_id", "appid", "page"), ()),
}


def _bytes(value: str) -> int:
    return len(value.encode())


def _is_url(value: str) -> bool:
    return value.startswith(("https://", "http://")) and len(value) <= URL_MAX and " " not in value


def _clean_image(body: Mapping[str, str]) -> dict[str, str]:
    media_id, pic_url = body.get("media_id", ""), body.get("pic_url", "")
    if bool(media_id) == bool(pic_url):
        raise ValidationFailed(_("an image takes a media_id or a pic_url, one of them"), field="attachment",
                               code="image_source")
    if pic_url and not _is_url(pic_url):
        raise ValidationFailed(_("pic_url must be an http(s) address"), field="attachment.image.pic_url",
                               code="pic_url_format")
    return {"media_id": media_id} if media_id else {"pic_url": pic_url}


def _clean_link(body: Mapping[str, str]) -> dict[str, str]:
    if _bytes(body["title"]) > LINK_TITLE_MAX_BYTES:
        raise ValidationFailed(_("a link's title is at most 128 bytes (about 42 Chinese characters)"),
                               field="attachment.link.title", code="too_long")
    if _bytes(body.get("desc", "")) > LINK_DESC_MAX_BYTES:
        raise ValidationFailed(_("a link's description is at most 512 bytes"), field="attachment.link.desc",
                               code="too_long")
    for key in ("url", "picurl"):
        if body.get(key) and not _is_url(body[key]):
            raise ValidationFailed(_("%(key)s must be an http(s) address") % {"key": key},
                                   field=f"attachment.link.{key}", code="not_http_url")
    return {k: v for k, v in body.items() if v}


def _clean_miniprogram(body: Mapping[str, str]) -> dict[str, str]:
    if _bytes(body["title"]) > MINIPROGRAM_TITLE_MAX_BYTES:
        raise ValidationFailed(_("a mini-program card's title is at most 64 bytes (about 21 Chinese characters)"),
                               field="attachment.miniprogram.title", code="too_long")
    return dict(body)


def clean_attachment(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """One attachment as the platform takes it, or {} for none."""
    if not raw:
        return {}
    kind = str(raw.get("msgtype", ""))
    fields = ATTACHMENT_FIELDS.get(kind)
    if fields is None:
        raise ValidationFailed(_("the attachment is an image, a link or a mini-program card"),
                               field="attachment.msgtype", code="unknown_msgtype")
    inner = raw.get(kind)
    if not isinstance(inner, Mapping):
        raise ValidationFailed(_("%(kind)s needs its fields") % {"kind": kind}, field=f"attachment.{kind}",
                               code="attachment_fields_required")
    required, optional = fields
    body = {k: str(inner.get(k) or "").strip()[:URL_MAX] for k in (*required, *optional)}
    missing = [k for k in required if not body[k]]
    if missing:
        raise ValidationFailed(_("%(kind)s needs %(fields)s") % {"kind": kind, "fields": ", ".join(missing)},
                               field=f"attachment.{kind}.{missing[0]}", code="required")
    cleaners = {"image": _clean_image, "link": _clean_link, "miniprogram": _clean_miniprogram}
    return {"msgtype": kind, kind: cleaners[kind](body)}


def clean_template(text: str, attachment: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    text = (text or "").strip()
    if _bytes(text) > TEXT_MAX_BYTES:
        raise ValidationFailed(
            _("the welcome text is at most %(n)s bytes (about 1000 Chinese characters)") % {"n": TEXT_MAX_BYTES},
            field="text", code="too_long",
        )
    if "\x00" in text:
        raise ValidationFailed(_("the text holds a NUL character"), field="text", code="invalid_character")
    clean = clean_attachment(attachment)
    if not text and not clean:
        raise ValidationFailed(_("a welcome template needs a text or an attachment"), field="text", code="empty")
    return text, clean


def material_attachment(*, scope: Scope, account_id: int, material_id: int) -> dict[str, Any]:
    """A material of the library (through the registered attachment source) as the template's attachment. May upload
    to WeCom, so it is called before create/update, outside their transaction; the result is cleaned as typed input."""
    account = wecom_account(account_id, enterprise_id=scope.enterprise_id)
    raw = attachment_sources.resolve(scope, "material", material_id, account=account, field="material_id")
    return clean_attachment(raw)


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not 1 <= len(name) <= 64:
        raise ValidationFailed(_("name is 1-64 characters"), field="name", code="name_length")
    return name


def _require_hq(scope: Scope) -> None:
    if not scope.is_hq:
        raise PermissionDenied(_("HQ manages group welcome templates (a corp holds at most 100)"))


def _locked(scope: Scope, welcome_id: int) -> GroupWelcome:
    found = (GroupWelcome.objects.select_for_update().select_related("account")
             .filter(pk=welcome_id, enterprise_id=scope.enterprise_id).exclude(status=GroupWelcomeStatus.DELETED)
             .first())
    if found is None:
        raise NotFound(_("group welcome template %(id)s not found") % {"id": welcome_id}, field="welcome_id")
    return found


def _push(welcome: GroupWelcome) -> None:
    """Queue what brings WeCom to this row's version: an add until a template id is known, then edits."""
    payload: dict[str, Any] = {"text": welcome.text, "attachment": welcome.attachment or None,
                               REF: {"welcome_id": welcome.pk, "version": welcome.version}}
    if welcome.template_id:
        enqueue_call(account=welcome.account, method="edit_group_welcome_template",
                     payload={"template_id": welcome.template_id, **payload},
                     key=f"group_welcome_edit:{welcome.pk}:{welcome.version}")
    else:
        enqueue_call(account=welcome.account, method="add_group_welcome_template",
                     payload={**payload, "notify": welcome.notify},
                     key=f"group_welcome_add:{welcome.pk}:{welcome.version}")


@transaction.atomic
def create_group_welcome(
    *, scope: Scope, account_id: int, name: str, text: str = "", attachment: Mapping[str, Any] | None = None,
    notify: bool = True, actor: Actor = None,
) -> GroupWelcome:
    _require_hq(scope)
    account = wecom_account(account_id, enterprise_id=scope.enterprise_id)
    clean_name = _clean_name(name)
    clean_text, clean = clean_template(text, attachment)
    # Creates for one corp queue on its account row, and count after the lock (a fresh snapshot): no race past 100.
    ChannelAccount.objects.select_for_update().filter(pk=account.pk).values_list("id", flat=True).first()
    live = GroupWelcome.objects.filter(account=account).exclude(status=GroupWelcomeStatus.DELETED)
    if live.count() >= TEMPLATES_PER_CORP:
        raise Conflict(_("WeCom holds at most 100 group welcome templates per corp: delete one first"),
                       field="account_id", code="template_limit")
    welcome = GroupWelcome.objects.create(
        enterprise_id=scope.enterprise_id, account=account, name=clean_name, text=clean_text, attachment=clean,
        notify=notify, created_by=audit.user_of(actor),
    )
    _push(welcome)
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="wecom.group_welcome.create",
                 target_type="group_welcome", target_id=welcome.pk, summary=clean_name,
                 changes={"attachment": clean.get("msgtype", "")})
    return welcome


@transaction.atomic
def update_group_welcome(
    *, scope: Scope, welcome_id: int, name: str | None = None, text: str | None = None,
    attachment: Mapping[str, Any] | None = None, clear_attachment: bool = False, actor: Actor = None,
) -> GroupWelcome:
    """Change the fields given; a change of text or attachment is a new version pushed to WeCom."""
    _require_hq(scope)
    welcome = _locked(scope, welcome_id)
    changes: dict[str, Any] = {}
    if name is not None and name.strip() != welcome.name:
        welcome.name = changes["name"] = _clean_name(name)
    new_text = welcome.text if text is None else text
    new_attachment = {} if clear_attachment else (welcome.attachment if attachment is None else attachment)
    clean_text, clean = clean_template(new_text, new_attachment)
    if (clean_text, clean) != (welcome.text, welcome.attachment):
        welcome.text, welcome.attachment = clean_text, clean
        welcome.version += 1
        changes["version"] = welcome.version
    if not changes:
        return welcome
    welcome.save()
    if "version" in changes and (welcome.template_id or welcome.status == GroupWelcomeStatus.FAILED):
        _push(welcome)  # pending add: its answer pushes the newest version
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="wecom.group_welcome.update",
                 target_type="group_welcome", target_id=welcome.pk, summary=welcome.name, changes=changes)
    return welcome


@transaction.atomic
def delete_group_welcome(*, scope: Scope, welcome_id: int, actor: Actor = None) -> None:
    """Delete the template here and on WeCom; its bindings go with it."""
    _require_hq(scope)
    welcome = _locked(scope, welcome_id)
    welcome.status = GroupWelcomeStatus.DELETED
    welcome.save(update_fields=["status", "updated_at"])
    welcome.bindings.all().delete()
    if welcome.template_id:
        enqueue_call(account=welcome.account, method="del_group_welcome_template",
                     payload={"template_id": welcome.template_id, REF: {"welcome_id": welcome.pk}},
                     key=f"group_welcome_del:{welcome.pk}")
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="wecom.group_welcome.delete",
                 target_type="group_welcome", target_id=welcome.pk, summary=welcome.name)


# ---------------------------------------------------------------------------------------------------------------
# The platform's answers


def _ref(call: OutboundCall) -> tuple[int, int]:
    ref = call.payload.get(REF, {})
    return int(ref.get("welcome_id") or 0), int(ref.get("version") or 0)


@on_success("add_group_welcome_template")
def _added(call: OutboundCall, result: dict[str, Any]) -> None:
    welcome_id, version = _ref(call)
    welcome = GroupWelcome.objects.select_for_update().select_related("account").filter(pk=welcome_id).first()
    template_id = str(result.get("template_id", ""))
    if welcome is None or not template_id:
        return
    welcome.template_id = template_id
    welcome.pushed_version = max(welcome.pushed_version, version)
    welcome.errcode, welcome.error = None, ""
    if welcome.status == GroupWelcomeStatus.DELETED:  # deleted while the add was on its way
        welcome.save(update_fields=["template_id", "pushed_version", "errcode", "error"])
        enqueue_call(account=welcome.account, method="del_group_welcome_template",
                     payload={"template_id": template_id, REF: {"welcome_id": welcome.pk}},
                     key=f"group_welcome_del:{welcome.pk}")
        return
    welcome.status = GroupWelcomeStatus.ACTIVE
    welcome.save(update_fields=["template_id", "pushed_version", "status", "errcode", "error"])
    if welcome.version > version:  # edited while the add was on its way
        _push(welcome)


@on_success("edit_group_welcome_template")
def _edited(call: OutboundCall, result: dict[str, Any]) -> None:
    welcome_id, version = _ref(call)
    welcome = GroupWelcome.objects.select_for_update().filter(pk=welcome_id).first()
    if welcome is None:
        return
    welcome.pushed_version = max(welcome.pushed_version, version)
    if welcome.status != GroupWelcomeStatus.DELETED:
        welcome.status, welcome.errcode, welcome.error = GroupWelcomeStatus.ACTIVE, None, ""
    welcome.save(update_fields=["pushed_version", "status", "errcode", "error"])


def _refused(call: OutboundCall, exc: WecomError) -> None:
    welcome_id, _version = _ref(call)
    GroupWelcome.objects.filter(pk=welcome_id).exclude(status=GroupWelcomeStatus.DELETED).update(
        status=GroupWelcomeStatus.FAILED, errcode=exc.errcode, error=str(exc)[:255]
    )


on_failure("add_group_welcome_template")(_refused)
on_failure("edit_group_welcome_template")(_refused)


@on_failure("del_group_welcome_template")
def _delete_refused(call: OutboundCall, exc: WecomError) -> None:
    welcome_id, _version = _ref(call)
    GroupWelcome.objects.filter(pk=welcome_id).update(errcode=exc.errcode, error=str(exc)[:255])


# ---------------------------------------------------------------------------------------------------------------
# Bindings


def _usable(scope: Scope, welcome_id: int, account_id: int, field: str) -> GroupWelcome:
    welcome = GroupWelcome.objects.filter(pk=welcome_id, enterprise_id=scope.enterprise_id).first()
    if welcome is None or welcome.status == GroupWelcomeStatus.DELETED:
        raise NotFound(_("group welcome template %(id)s not found") % {"id": welcome_id}, field=field)
    if welcome.account_id != account_id:
        raise ValidationFailed(_("the template belongs to another WeCom corp than the group"), field=field,
                               code="welcome_of_other_corp")
    return welcome


def _require_manager(scope: Scope) -> None:
    if not scope.is_manager:
        raise PermissionDenied(_("managers and HQ choose a group's welcome template"))


@transaction.atomic
def bind_group_code(*, scope: Scope, code_id: int, welcome_id: int | None, actor: Actor = None) -> GroupCode:
    """The template every group of the code greets joiners with (None: no template)."""
    _require_manager(scope)
    code = GroupCode.objects.select_for_update().filter(pk=code_id, enterprise_id=scope.enterprise_id).first()
    if code is None or code.status == GroupCodeStatus.DISABLED:
        raise NotFound(_("group code %(code_id)s not found") % {"code_id": code_id}, field="code_id")
    if welcome_id is None:
        GroupWelcomeBinding.objects.filter(group_code=code).delete()
    else:
        welcome = _usable(scope, welcome_id, code.account_id, "welcome_id")
        GroupWelcomeBinding.objects.update_or_create(group_code=code, defaults={"welcome": welcome})
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="wecom.group_welcome.bind",
                 target_type="group_code", target_id=code.pk, changes={"welcome_id": welcome_id})
    return code


@transaction.atomic
def bind_group(*, scope: Scope, group_id: int, welcome_id: int | None, actor: Actor = None) -> CustomerGroup:
    """One group's own template, over its code's (None: back to the code's)."""
    _require_manager(scope)
    groups = CustomerGroup.objects.select_for_update().filter(pk=group_id, account__enterprise_id=scope.enterprise_id)
    if not scope.is_hq:
        groups = groups.filter(owner_id__in=org_queries.visible_staff_ids(scope))
    group = groups.first()
    if group is None:
        raise NotFound(_("group %(group_id)s not found") % {"group_id": group_id}, field="group_id")
    if welcome_id is None:
        GroupWelcomeBinding.objects.filter(group=group).delete()
    else:
        welcome = _usable(scope, welcome_id, group.account_id, "welcome_id")
        GroupWelcomeBinding.objects.update_or_create(group=group, defaults={"welcome": welcome})
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="wecom.group_welcome.bind",
                 target_type="customer_group", target_id=group.pk, changes={"welcome_id": welcome_id})
    return group
