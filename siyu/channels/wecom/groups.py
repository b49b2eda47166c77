"""Customer groups (客户群): change_external_chat events and groupchat/list+get, kept as groups and membership stints.

A join opens a stint (joined_at, join scene), a quit closes it (left_at, quit scene); joins and quits by day are
counted from the stints. Customers in groups are resolved by their external_userid (and unionid when the group
detail gives one), so a group member who never added a staff member is a customer too.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from django.db import transaction

from siyu.channels.models import ChannelAccount
from siyu.channels.wecom import group_codes
from siyu.channels.wecom.accounts import upstream_error, wecom_account
from siyu.channels.wecom.callbacks import WecomEvent
from siyu.channels.wecom.client import GroupChat, GroupChatMember, WecomError
from siyu.channels.wecom.models import CustomerGroup, GroupMembership, GroupStatus, MemberType
from siyu.channels.wecom.provider import client_for
from siyu.core.timeutil import now
from siyu.customers import services as customer_services
from siyu.customers.models import Channel, Customer, IdentityKind
from siyu.customers.services import IdentityInput
from siyu.org import queries as org_queries
from siyu.org.models import Staff
from siyu.org.scope import Scope


def _at(ts: int) -> datetime:
    return min(datetime.fromtimestamp(ts, UTC), now()) if ts > 0 else now()


def _staff(account: ChannelAccount, userid: str) -> Staff | None:
    if not userid:
        return None
    return org_queries.staff(Scope.hq(account.enterprise_id)).filter(wecom_userid=userid).first()


def _customer(account: ChannelAccount, external_userid: str, *, unionid: str = "", name: str = "") -> Customer:
    identities = [IdentityInput(kind=IdentityKind.WECOM_EXTERNAL_USERID, value=external_userid, account=account.app_id)]
    if unionid:
        identities.append(IdentityInput(kind=IdentityKind.UNIONID, value=unionid))
    return customer_services.resolve_customer(
        enterprise_id=account.enterprise_id,
        identities=identities,
        defaults={"name": name[:64], "created_source": Channel.WECOM},
    )


def _group(account: ChannelAccount, chat_id: str) -> CustomerGroup:
    group, _ = CustomerGroup.objects.get_or_create(account=account, chat_id=chat_id)
    return group


def _refresh(account: ChannelAccount, group: CustomerGroup, detail: GroupChat) -> None:
    group.name = detail.name[:128]
    group.owner_userid = detail.owner
    group.owner = _staff(account, detail.owner)
    group.admin_userids = list(detail.admins)
    group.notice = detail.notice
    group.platform_created_at = _at(detail.create_time) if detail.create_time else group.platform_created_at
    group.synced_at = now()
    group.status = GroupStatus.ACTIVE
    group.save()


def _open(
    account: ChannelAccount, group: CustomerGroup, member: GroupChatMember, *, at: datetime, scene: int | None
) -> GroupMembership | None:
    if GroupMembership.objects.filter(group=group, member_id=member.userid, left_at__isnull=True).exists():
        return None
    customer = staff = None
    if member.type == MemberType.EXTERNAL:
        customer = _customer(account, member.userid, unionid=member.unionid, name=member.name)
    else:
        staff = _staff(account, member.userid)
    stint = GroupMembership.objects.create(
        group=group,
        member_id=member.userid,
        member_type=member.type,
        customer=customer,
        staff=staff,
        name=member.name[:64],
        joined_at=at,
        join_scene=scene,
    )
    group_codes.count_joins(group, [member.userid], member_type=member.type, scene=scene, at=at)
    if customer is not None:
        customer_services.record_event(
            customer=customer,
            name="group_joined",
            idempotency_key=f"group_joined:{group.pk}:{member.userid}:{int(at.timestamp())}",
            occurred_at=at,
            channel=Channel.WECOM,
            campaign=member.state,  # a join way's state (a referral participant's token, for group fission)
            properties={"chat_id": group.chat_id},
        )
    return stint


def _close(group: CustomerGroup, member_ids: Iterable[str], *, at: datetime, scene: int | None) -> int:
    closed = 0
    for stint in GroupMembership.objects.filter(group=group, member_id__in=list(member_ids), left_at__isnull=True):
        stint.left_at, stint.quit_scene = at, scene
        stint.save(update_fields=["left_at", "quit_scene"])
        closed += 1
        group_codes.count_quits(group, [stint.member_id], at=at)
        if stint.customer is not None:
            customer_services.record_event(
                customer=stint.customer,
                name="group_left",
                idempotency_key=f"group_left:{group.pk}:{stint.member_id}:{int(at.timestamp())}",
                occurred_at=at,
                channel=Channel.WECOM,
                properties={"chat_id": group.chat_id},
            )
    return closed


def _count(group: CustomerGroup) -> None:
    group.member_count = GroupMembership.objects.filter(group=group, left_at__isnull=True).count()
    group.save(update_fields=["member_count", "updated_at"])
    group_codes.after_member_change(group)  # a group code over this group may roll to its next group


def reconcile(account: ChannelAccount, detail: GroupChat) -> CustomerGroup:
    """Make Siyu's group match the platform's detail: members who appeared join, members who vanished leave."""
    group = _group(account, detail.chat_id)
    _refresh(account, group, detail)
    current = {m.userid: m for m in detail.members}
    live = set(
        GroupMembership.objects.filter(group=group, left_at__isnull=True).values_list("member_id", flat=True)
    )
    for member_id in sorted(set(current) - live):
        member = current[member_id]
        _open(account, group, member, at=_at(member.join_time), scene=member.join_scene or None)
    _close(group, live - set(current), at=now(), scene=None)
    _count(group)
    return group


def _list_incomplete(event: WecomEvent) -> bool:
    """MemChangeCnt is the documented count of the members changed; when the event lists fewer (or none), the
    list cannot be applied as it is and the group is read whole from the platform instead."""
    raw = event.get("MemChangeCnt").strip()
    return raw.isdigit() and int(raw) != len(event.members)


def _needs_detail(account: ChannelAccount, event: WecomEvent) -> bool:
    """Whether applying this event takes the group's detail from the platform: everything but a dismissal and a
    member join or quit of a group Siyu already holds whose event lists every member changed."""
    if event.change_type == "dismiss" or not event.get("ChatId"):
        return False
    if event.change_type == "update" and event.get("UpdateDetail") in ("add_member", "del_member"):
        if event.get("UpdateDetail") == "add_member" and event.get("JoinScene") == str(group_codes.JOIN_SCENE_QR):
            return True  # a QR join: the join way's state (group fission's attribution) is only in the detail
        return _list_incomplete(event) or not CustomerGroup.objects.filter(
            account=account, chat_id=event.get("ChatId"), synced_at__isnull=False
        ).exists()
    return True


def fetch_for_chat_event(account: ChannelAccount, event: WecomEvent) -> GroupChat | None:
    """The group detail a change_external_chat event needs, from the platform (network: before the transaction)."""
    if not _needs_detail(account, event):
        return None
    return client_for(account).get_group_chat(chat_id=event.get("ChatId"))


def on_chat_event(account: ChannelAccount, event: WecomEvent, detail: GroupChat | None = None) -> str:
    """Apply a change_external_chat event; `detail` is what fetch_for_chat_event brought (no network here)."""
    chat_id = event.get("ChatId")
    if not chat_id:
        return "ignored: no ChatId"
    change = event.change_type
    at = _at(event.create_time)
    if change == "dismiss":
        group = _group(account, chat_id)
        members = GroupMembership.objects.filter(group=group).values_list("member_id", flat=True)
        _close(group, members, at=at, scene=None)
        group.status = GroupStatus.DISMISSED
        group.save(update_fields=["status", "updated_at"])
        _count(group)
        return "dismissed"
    detail_name = event.get("UpdateDetail")
    if change == "update" and detail_name in ("add_member", "del_member"):
        return _membership_change(account, event, chat_id, at, detail)
    if detail is None:
        return "ignored: no group detail"
    reconcile(account, detail)
    return f"{change or 'update'} {detail_name}".strip()


def _membership_change(
    account: ChannelAccount, event: WecomEvent, chat_id: str, at: datetime, detail: GroupChat | None
) -> str:
    group = _group(account, chat_id)
    complete_qr_join = bool(group.synced_at) and not _list_incomplete(event) and \
        event.get("UpdateDetail") == "add_member"
    if detail is not None and not complete_qr_join:  # never seen before, or the list is short: the whole group
        reconcile(account, detail)
        return "synced"
    states = {m.userid: m.state for m in detail.members} if detail is not None else {}
    if not group.synced_at:
        return "ignored: group not yet synced"
    scene_field = "JoinScene" if event.get("UpdateDetail") == "add_member" else "QuitScene"
    raw_scene = event.get(scene_field)
    scene = int(raw_scene) if raw_scene.isdigit() else None
    if event.get("UpdateDetail") == "add_member":
        staff_ids = set(
            org_queries.staff(Scope.hq(account.enterprise_id))
            .filter(wecom_userid__in=list(event.members))
            .values_list("wecom_userid", flat=True)
        )
        for member_id in event.members:
            kind = MemberType.STAFF if member_id in staff_ids else MemberType.EXTERNAL
            _open(account, group, GroupChatMember(userid=member_id, type=kind, state=states.get(member_id, "")),
                  at=at, scene=scene)  # a QR join's detail was read for its join-way state only
        done = f"{len(event.members)} joined"
    else:
        done = f"{_close(group, event.members, at=at, scene=scene)} left"
    _count(group)
    return done


def sync_account_groups(account: ChannelAccount) -> int:
    """groupchat/list (cursor paging) then groupchat/get for each: the initial import of existing groups. Each
    group's detail is fetched outside any transaction, then written in a short one of its own."""
    client = client_for(account)
    cursor, count = "", 0
    while True:
        page = client.list_group_chats(cursor=cursor, limit=1000)
        for ref in page.items:
            detail = client.get_group_chat(chat_id=ref.chat_id)
            with transaction.atomic():
                reconcile(account, detail)
            count += 1
        if not page.next_cursor:
            return count
        cursor = page.next_cursor


def sync_groups(*, scope: Scope, account_id: int) -> int:
    try:
        return sync_account_groups(wecom_account(account_id, enterprise_id=scope.enterprise_id))
    except WecomError as exc:
        raise upstream_error(exc) from exc
