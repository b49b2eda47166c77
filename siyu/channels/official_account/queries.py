"""Read paths for the Official Account pages and API. Configuration and logs are HQ's: other scopes get a 403."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from siyu.channels.models import AccountKind, CallbackStatus, ChannelAccount, InboundCallback
from siyu.channels.official_account.models import (
    Follower,
    FollowerSync,
    FollowReply,
    KeywordReply,
    MatchKind,
    Menu,
    PushStatus,
    QrScene,
    ReplyKind,
    ScanKind,
    SceneHit,
    SendStatus,
    TemplateSend,
)
from siyu.channels.official_account.provider import showqrcode_base
from siyu.core.errors import NotFound, PermissionDenied, ValidationFailed
from siyu.core.pagination import Page, paginate
from siyu.core.timeutil import local_day, now
from siyu.org.scope import Scope


def _require_hq(scope: Scope) -> None:
    if not scope.is_hq:
        raise PermissionDenied(_("Official Account settings are managed by HQ"))


def accounts(scope: Scope) -> list[ChannelAccount]:
    _require_hq(scope)
    return list(
        ChannelAccount.objects.filter(enterprise_id=scope.enterprise_id, kind=AccountKind.OFFICIAL_ACCOUNT).order_by(
            "id"
        )
    )


def account(scope: Scope, account_id: int) -> ChannelAccount:
    _require_hq(scope)
    found = ChannelAccount.objects.filter(
        pk=account_id, enterprise_id=scope.enterprise_id, kind=AccountKind.OFFICIAL_ACCOUNT
    ).first()
    if found is None:
        raise NotFound(_("no Official Account %(account_id)s") % {"account_id": account_id}, field="account_id")
    return found


def default_account(scope: Scope) -> ChannelAccount | None:
    found = accounts(scope)
    return found[0] if found else None


@dataclass(frozen=True)
class FollowerStats:
    following: int
    unfollowed: int
    with_unionid: int
    followed_today: int


def follower_stats(scope: Scope, account_id: int) -> FollowerStats:
    acc = account(scope, account_id)
    today = local_day(now())
    counts = Follower.objects.filter(account=acc).aggregate(
        following=Count("id", filter=Q(subscribed=True)),
        unfollowed=Count("id", filter=Q(subscribed=False, follow_count__gt=0)),
        with_unionid=Count("id", filter=~Q(unionid="")),
    )
    today_follows = SceneHit.objects.filter(account=acc, day=today, kind=ScanKind.FOLLOW).count()
    return FollowerStats(followed_today=today_follows, **{k: int(v or 0) for k, v in counts.items()})


def keyword_replies(scope: Scope, account_id: int) -> QuerySet[KeywordReply]:
    acc = account(scope, account_id)
    return KeywordReply.objects.filter(account=acc).order_by("-priority", "match", "id")


def keyword_reply(scope: Scope, reply_id: int) -> KeywordReply:
    _require_hq(scope)
    found = KeywordReply.objects.filter(pk=reply_id, account__enterprise_id=scope.enterprise_id).first()
    if found is None:
        raise NotFound(_("no keyword reply %(reply_id)s") % {"reply_id": reply_id}, field="reply_id")
    return found


def follow_reply(scope: Scope, account_id: int) -> FollowReply | None:
    return FollowReply.objects.filter(account=account(scope, account_id)).first()


def menu(scope: Scope, account_id: int) -> Menu | None:
    return Menu.objects.filter(account=account(scope, account_id)).first()


@dataclass(frozen=True)
class SceneRow:
    scene: QrScene
    follows: int
    scans: int
    follows_7d: int
    scans_7d: int
    image_url: str


def _image_url(acc: ChannelAccount, scene: QrScene) -> str:
    return f"{showqrcode_base(acc)}/cgi-bin/showqrcode?ticket={quote(scene.ticket, safe='')}" if scene.ticket else ""


def qr_scenes(scope: Scope, account_id: int) -> list[SceneRow]:
    """Every scene with its follow and scan counts, all time and over the last 7 Shanghai days."""
    acc = account(scope, account_id)
    since = local_day(now()) - timedelta(days=6)
    totals: dict[str, dict[str, Any]] = {
        row["scene"]: dict(row)
        for row in SceneHit.objects.filter(account=acc).values("scene").annotate(
            follows=Count("id", filter=Q(kind=ScanKind.FOLLOW)),
            scans=Count("id", filter=Q(kind=ScanKind.SCAN)),
            follows_7d=Count("id", filter=Q(kind=ScanKind.FOLLOW, day__gte=since)),
            scans_7d=Count("id", filter=Q(kind=ScanKind.SCAN, day__gte=since)),
        )
    }
    rows = []
    for scene in QrScene.objects.filter(account=acc).order_by("-created_at", "-id"):
        hit = totals.get(scene.scene, {})
        rows.append(
            SceneRow(
                scene=scene,
                follows=hit.get("follows", 0),
                scans=hit.get("scans", 0),
                follows_7d=hit.get("follows_7d", 0),
                scans_7d=hit.get("scans_7d", 0),
                image_url=_image_url(acc, scene),
            )
        )
    return rows


def qr_scene(scope: Scope, scene_pk: int) -> QrScene:
    _require_hq(scope)
    found = QrScene.objects.filter(pk=scene_pk, account__enterprise_id=scope.enterprise_id).first()
    if found is None:
        raise NotFound(_("no QR scene %(scene_pk)s") % {"scene_pk": scene_pk}, field="scene_pk")
    return found


@dataclass(frozen=True)
class DayStat:
    day: date
    follows: int
    scans: int


def scene_daily(scope: Scope, scene_pk: int, *, days: int = 30) -> list[DayStat]:
    """Follows and scans through one scene per Shanghai day, oldest first, zero-filled."""
    if not 1 <= days <= 366:
        raise ValidationFailed(_("days is 1-366"), field="days", code="days_range")
    scene = qr_scene(scope, scene_pk)
    end = local_day(now())
    start = end - timedelta(days=days - 1)
    counts: dict[tuple[date, str], int] = {
        (row["day"], row["kind"]): row["n"]
        for row in SceneHit.objects.filter(account_id=scene.account_id, scene=scene.scene, day__gte=start)
        .values("day", "kind")
        .annotate(n=Count("id"))
    }
    return [
        DayStat(
            day=start + timedelta(days=offset),
            follows=counts.get((start + timedelta(days=offset), ScanKind.FOLLOW), 0),
            scans=counts.get((start + timedelta(days=offset), ScanKind.SCAN), 0),
        )
        for offset in range(days)
    ]


def template_sends(
    scope: Scope, account_id: int, *, status: str = "", page: int = 1, page_size: int = 20
) -> Page[TemplateSend]:
    acc = account(scope, account_id)
    qs = TemplateSend.objects.filter(account=acc).order_by("-created_at", "-id")
    if status:
        if status not in SendStatus.values:
            raise ValidationFailed(
                _("status must be one of %(join)s") % {"join": ', '.join(SendStatus.values)},
                field="status",
                code="unknown_status",
            )
        qs = qs.filter(status=status)
    return paginate(qs, page=page, page_size=page_size)


def template_send(scope: Scope, send_id: int) -> TemplateSend:
    _require_hq(scope)
    found = TemplateSend.objects.filter(pk=send_id, account__enterprise_id=scope.enterprise_id).first()
    if found is None:
        raise NotFound(_("no template send %(send_id)s") % {"send_id": send_id}, field="send_id")
    return found


def callback_log(
    scope: Scope, account_id: int, *, status: str = "", page: int = 1, page_size: int = 50
) -> Page[InboundCallback]:
    acc = account(scope, account_id)
    qs = InboundCallback.objects.filter(account=acc, kind=AccountKind.OFFICIAL_ACCOUNT).order_by("-received_at", "-id")
    if status:
        if status not in CallbackStatus.values:
            raise ValidationFailed(
                _("status must be one of %(join)s") % {"join": ', '.join(CallbackStatus.values)},
                field="status",
                code="unknown_status",
            )
        qs = qs.filter(status=status)
    return paginate(qs.defer("body"), page=page, page_size=page_size)


@dataclass(frozen=True)
class StatusCount:
    status: str
    label: str
    count: int


def callback_counts(scope: Scope, account_id: int) -> list[StatusCount]:
    acc = account(scope, account_id)
    rows = InboundCallback.objects.filter(account=acc, kind=AccountKind.OFFICIAL_ACCOUNT).values("status").annotate(
        n=Count("id")
    )
    labels = dict(CallbackStatus.choices)
    return [StatusCount(row["status"], str(labels.get(row["status"], row["status"])), row["n"])
            for row in rows.order_by("status")]


def follower_by_openid(scope: Scope, account_id: int, openid: str) -> Follower | None:
    return Follower.objects.filter(account=account(scope, account_id), openid=openid).first()


def follower_syncs(scope: Scope, account_id: int, *, limit: int = 10) -> list[FollowerSync]:
    """The account's latest follower syncs, newest first."""
    acc = account(scope, account_id)
    return list(FollowerSync.objects.filter(account=acc).order_by("-started_at", "-id")[:limit])


def follower_sync(scope: Scope, run_id: int) -> FollowerSync:
    _require_hq(scope)
    found = FollowerSync.objects.filter(pk=run_id, account__enterprise_id=scope.enterprise_id).first()
    if found is None:
        raise NotFound(_("no follower sync %(run_id)s") % {"run_id": run_id}, field="run_id")
    return found


# -- choices and labels for forms (views may not import models) --------------------------------------------------------


def match_choices() -> list[tuple[str, str]]:
    return [(value, str(label)) for value, label in MatchKind.choices]


def reply_kind_choices() -> list[tuple[str, str]]:
    return [(value, str(label)) for value, label in ReplyKind.choices]


def callback_status_choices() -> list[tuple[str, str]]:
    return [(value, str(label)) for value, label in CallbackStatus.choices]


def send_status_choices() -> list[tuple[str, str]]:
    return [(value, str(label)) for value, label in SendStatus.choices]


def push_status_label(status: str) -> str:
    return str(dict(PushStatus.choices).get(status, status))
