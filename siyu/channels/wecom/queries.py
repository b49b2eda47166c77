"""Read paths for WeCom's console pages and API. Every function takes a Scope.

HQ sees every code, group and inheritance; others see those of the staff they may see (a code through its members
or its store, a group through its owner, an inheritance through the staff member handing over). The outbox and
sync runs are HQ's.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum
from django.db.models.functions import TruncDate
from django.utils.translation import gettext_lazy as _

from siyu.channels.models import AccountKind, ChannelAccount
from siyu.channels.wecom import schedules
from siyu.channels.wecom.mass_sends import preview_counts
from siyu.channels.wecom.models import (
    AssignMode,
    CallStatus,
    ChannelCode,
    ChannelCodeDay,
    ChannelCodeStaff,
    CodeStatus,
    CustomerGroup,
    DefaultWelcome,
    GroupCode,
    GroupCodeDay,
    GroupCodeJoin,
    GroupCodeNotice,
    GroupCodeSlot,
    GroupCodeStatus,
    GroupMembership,
    GroupRoute,
    GroupSop,
    GroupSopRun,
    GroupStatus,
    GroupTag,
    GroupTagging,
    GroupTransfer,
    GroupTransferItem,
    GroupWelcome,
    GroupWelcomeBinding,
    GroupWelcomeStatus,
    KeywordGroup,
    MassSend,
    MassSendKind,
    MassSendRecipient,
    MassSendSender,
    MassSendStatus,
    MemberType,
    MomentStatus,
    MomentTask,
    OutboundCall,
    RecipientStatus,
    SenderStatus,
    SyncJob,
    SyncRun,
    TransferItem,
    TransferItemStatus,
    TransferJob,
    TransferKind,
)
from siyu.channels.wecom.moments import resubmittable
from siyu.core.errors import NotFound, PermissionDenied, ValidationFailed
from siyu.core.pagination import Page, paginate
from siyu.core.timeutil import SHANGHAI, day_bounds, local_day, now
from siyu.customers import queries as customer_queries
from siyu.customers.models import Customer, Event, IdentityKind, Relationship, RelationshipStatus
from siyu.org import queries as org_queries
from siyu.org.scope import Scope

ASSIGN_MODES = AssignMode.choices
CODE_STATUSES = CodeStatus.choices
TRANSFER_KINDS = TransferKind.choices
TRANSFER_ITEM_STATUSES = TransferItemStatus.choices
CALL_STATUSES = CallStatus.choices
GROUP_STATUSES = GroupStatus.choices
GROUP_CODE_STATUSES = GroupCodeStatus.choices
GROUP_WELCOME_STATUSES = GroupWelcomeStatus.choices


def accounts(scope: Scope) -> QuerySet[ChannelAccount]:
    return ChannelAccount.objects.filter(enterprise_id=scope.enterprise_id, kind=AccountKind.WECOM).order_by("id")


def codes(scope: Scope) -> QuerySet[ChannelCode]:
    qs = ChannelCode.objects.filter(enterprise_id=scope.enterprise_id)
    if scope.is_hq:
        return qs
    visible = org_queries.visible_staff_ids(scope)
    members = ChannelCodeStaff.objects.filter(code_id=OuterRef("pk"), staff_id__in=visible)
    stores = org_queries.stores(scope).values_list("id", flat=True)
    return qs.filter(Q(Exists(members)) | Q(store_id__in=stores))


def code_list(scope: Scope, *, page: int = 1, page_size: int = 20, status: str = "") -> Page[ChannelCode]:
    qs = codes(scope).select_related("store", "account").annotate(
        total_scans=Sum("days__scans"), total_adds=Sum("days__adds"), total_deletes=Sum("days__deletes")
    )
    if status:
        qs = qs.filter(status=status)
    return paginate(qs.order_by("-created_at", "-id"), page=page, page_size=page_size)


def get_code(scope: Scope, code_id: int) -> ChannelCode:
    found = (
        codes(scope)
        .select_related("store", "account")
        .prefetch_related(Prefetch("members", queryset=ChannelCodeStaff.objects.select_related("staff")), "tags")
        .filter(pk=code_id)
        .first()
    )
    if found is None:
        raise NotFound(_("channel code %(code_id)s not found") % {"code_id": code_id}, field="code_id")
    return found


@dataclass(frozen=True)
class DayStats:
    day: date
    scans: int
    adds: int
    deletes: int

    @property
    def net(self) -> int:
        return self.adds - self.deletes


@dataclass(frozen=True)
class CodeStats:
    days: list[DayStats]
    scans: int
    adds: int
    deletes: int

    @property
    def net(self) -> int:
        return self.adds - self.deletes


def code_stats(scope: Scope, code_id: int, *, days: int = 30, until: date | None = None) -> CodeStats:
    """Scans, adds, deletes and net per Shanghai day for the last `days` days (zeros filled in), and totals."""
    code = get_code(scope, code_id)
    last = until or local_day(now())
    first = last - timedelta(days=days - 1)
    rows = {
        r.day: r for r in ChannelCodeDay.objects.filter(code=code, day__gte=first, day__lte=last)
    }
    series = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        row = rows.get(day)
        series.append(DayStats(day, row.scans if row else 0, row.adds if row else 0, row.deletes if row else 0))
    totals = ChannelCodeDay.objects.filter(code=code).aggregate(s=Sum("scans"), a=Sum("adds"), d=Sum("deletes"))
    return CodeStats(days=series, scans=totals["s"] or 0, adds=totals["a"] or 0, deletes=totals["d"] or 0)


def default_welcome(scope: Scope, account_id: int) -> DefaultWelcome | None:
    return DefaultWelcome.objects.filter(account__enterprise_id=scope.enterprise_id, account_id=account_id).first()


# ---------------------------------------------------------------------------------------------------------------
# Groups


def groups(scope: Scope) -> QuerySet[CustomerGroup]:
    qs = CustomerGroup.objects.filter(account__enterprise_id=scope.enterprise_id)
    if scope.is_hq:
        return qs
    return qs.filter(owner_id__in=org_queries.visible_staff_ids(scope))


def group_owner_choices(scope: Scope) -> list[tuple[int, str]]:
    """The staff who own a group the scope may see (for the group list's owner filter)."""
    owners = groups(scope).exclude(owner__isnull=True).values_list("owner_id", "owner__name").distinct()
    return sorted(((pk, name) for pk, name in owners), key=lambda row: (row[1], row[0]))


def group_list(
    scope: Scope, *, page: int = 1, page_size: int = 20, q: str = "", owner_id: int | None = None,
    tag_id: int | None = None,
) -> Page[CustomerGroup]:
    """Groups in scope, newest first; `owner_id` narrows to one owner's (an owner outside the scope: none),
    `tag_id` to the groups with that group tag."""
    qs = groups(scope).select_related("owner")
    if owner_id is not None:
        qs = qs.filter(owner_id=owner_id)
    if tag_id is not None:
        qs = qs.filter(Exists(GroupTagging.objects.filter(group_id=OuterRef("pk"), tag_id=tag_id)))
    if q.strip():
        qs = qs.filter(Q(name__icontains=q.strip()) | Q(owner__name__icontains=q.strip()))
    return paginate(qs.order_by("-platform_created_at", "-id"), page=page, page_size=page_size)


def get_group(scope: Scope, group_id: int) -> CustomerGroup:
    found = groups(scope).select_related("owner").filter(pk=group_id).first()
    if found is None:
        raise NotFound(_("group %(group_id)s not found") % {"group_id": group_id}, field="group_id")
    return found


def group_members(scope: Scope, group_id: int, *, current: bool = True) -> list[GroupMembership]:
    group = get_group(scope, group_id)
    qs = group.memberships.select_related("customer", "staff")
    qs = qs.filter(left_at__isnull=True) if current else qs.filter(left_at__isnull=False)
    return list(qs.order_by("-left_at" if not current else "joined_at", "id")[:500])


@dataclass(frozen=True)
class GroupDay:
    day: date
    joins: int
    quits: int


def group_activity(scope: Scope, group_id: int, *, days: int = 30) -> list[GroupDay]:
    """Joins and quits per Shanghai day, from the membership stints."""
    group = get_group(scope, group_id)
    last = local_day(now())
    first = last - timedelta(days=days - 1)
    joins: dict[date, int] = {}
    quits: dict[date, int] = {}
    for joined, left in group.memberships.filter(
        Q(joined_at__date__gte=first - timedelta(days=1)) | Q(left_at__date__gte=first - timedelta(days=1))
    ).values_list("joined_at", "left_at"):
        joins[local_day(joined)] = joins.get(local_day(joined), 0) + 1
        if left is not None:
            quits[local_day(left)] = quits.get(local_day(left), 0) + 1
    return [
        GroupDay(day, joins.get(day, 0), quits.get(day, 0))
        for day in (first + timedelta(days=offset) for offset in range(days))
    ]


# ---------------------------------------------------------------------------------------------------------------
# Inheritance


def leavers_to_inherit(scope: Scope, *, limit: int = 100) -> list[Any]:
    """Staff who have left (marked by hand or gone from WeCom) and still hold active WeCom customers: what
    resigned-staff inheritance (离职继承) is for. Newest leavers first, with the count of customers to hand over."""
    active = Relationship.objects.filter(staff_id=OuterRef("pk"), status=RelationshipStatus.ACTIVE,
                                         customer__merged_into__isnull=True)
    return list(
        org_queries.staff(scope).filter(is_active=False).exclude(wecom_userid="")
        .annotate(open_customers=Count("relationships", filter=Q(relationships__status=RelationshipStatus.ACTIVE,
                                                                 relationships__customer__merged_into__isnull=True)))
        .filter(Exists(active)).order_by("-left_at", "id")[:limit]
    )


def transfer_jobs(scope: Scope, *, page: int = 1, page_size: int = 20) -> Page[TransferJob]:
    qs = TransferJob.objects.filter(enterprise_id=scope.enterprise_id).select_related("handover", "takeover")
    if not scope.is_hq:
        qs = qs.filter(handover_id__in=org_queries.visible_staff_ids(scope))
    counted = qs.annotate(
        total=Count("items"),
        succeeded=Count("items", filter=Q(items__status=TransferItemStatus.SUCCEEDED)),
        failed=Count(
            "items",
            filter=Q(
                items__status__in=[
                    TransferItemStatus.REFUSED,
                    TransferItemStatus.LIMIT,
                    TransferItemStatus.REJECTED,
                    TransferItemStatus.NO_RECORD,
                ]
            ),
        ),
    )
    return paginate(counted.order_by("-created_at", "-id"), page=page, page_size=page_size)


def get_transfer(scope: Scope, job_id: int) -> TransferJob:
    qs = TransferJob.objects.filter(enterprise_id=scope.enterprise_id, pk=job_id).select_related("handover", "takeover")
    if not scope.is_hq:
        qs = qs.filter(handover_id__in=org_queries.visible_staff_ids(scope))
    job = qs.first()
    if job is None:
        raise NotFound(_("inheritance %(job_id)s not found") % {"job_id": job_id}, field="job_id")
    return job


def _transfer_items(scope: Scope, job_id: int, status: str) -> QuerySet[TransferItem]:
    job = get_transfer(scope, job_id)
    qs = job.items.select_related("customer")
    if status in TransferItemStatus.values:
        qs = qs.filter(status=status)
    return qs.order_by("id")


def transfer_items(scope: Scope, job_id: int, *, status: str = "") -> list[TransferItem]:
    return list(_transfer_items(scope, job_id, status)[:1000])


def transfer_items_page(
    scope: Scope, job_id: int, *, status: str = "", page: int = 1, page_size: int = 50
) -> Page[TransferItem]:
    """One page of an inheritance's customers (an unknown status filter shows them all)."""
    return paginate(_transfer_items(scope, job_id, status), page=page, page_size=page_size)


def transfer_item_counts(scope: Scope, job_id: int) -> dict[str, int]:
    """status -> customers of an inheritance, and "all": one aggregate query, for the summary above its list."""
    rows = _transfer_items(scope, job_id, "").order_by().values("status").annotate(n=Count("id"))
    counts = {row["status"]: row["n"] for row in rows}
    return {"all": sum(counts.values()), **counts}


# ---------------------------------------------------------------------------------------------------------------
# Operations (HQ)


def _hq(scope: Scope) -> None:
    if not scope.is_hq:
        raise PermissionDenied(_("for HQ only"))


def outbox(scope: Scope, *, status: str = "", page: int = 1, page_size: int = 50) -> Page[OutboundCall]:
    _hq(scope)
    qs = OutboundCall.objects.filter(account__enterprise_id=scope.enterprise_id)
    if status:
        qs = qs.filter(status=status)
    return paginate(qs.order_by("-created_at", "-id"), page=page, page_size=page_size)


def sync_runs(scope: Scope, *, limit: int = 10) -> list[SyncRun]:
    _hq(scope)
    return list(SyncRun.objects.filter(account__enterprise_id=scope.enterprise_id).order_by("-started_at")[:limit])


def sync_jobs(scope: Scope, *, limit: int = 10) -> list[SyncJob]:
    """The latest address-book, tag and group syncs of the enterprise's WeCom accounts (HQ)."""
    _hq(scope)
    return list(SyncJob.objects.filter(account__enterprise_id=scope.enterprise_id).select_related("account")
                .order_by("-created_at", "-id")[:limit])


def get_sync_job(scope: Scope, job_id: int) -> SyncJob:
    _hq(scope)
    found = SyncJob.objects.filter(account__enterprise_id=scope.enterprise_id, pk=job_id).first()
    if found is None:
        raise NotFound(_("sync job %(job_id)s not found") % {"job_id": job_id}, field="job_id")
    return found


def get_sync_run(scope: Scope, run_id: int) -> SyncRun:
    _hq(scope)
    found = SyncRun.objects.filter(account__enterprise_id=scope.enterprise_id, pk=run_id).first()
    if found is None:
        raise NotFound(_("sync run %(run_id)s not found") % {"run_id": run_id}, field="run_id")
    return found


# ---------------------------------------------------------------------------------------------------------------
# The simulator's bootstrap (a system read: the simulator plays the platform, which remembers what Siyu created)


def code_names(enterprise_id: int, states: Iterable[str]) -> dict[str, str]:
    """state -> the name of the enterprise's channel code that carries it, for showing a customer's source (the
    relationship's or an event's `state`) as the code operators know; one query for all the states asked."""
    wanted = {state for state in states if state}
    if not wanted:
        return {}
    rows = (
        ChannelCode.objects.filter(enterprise_id=enterprise_id, state__in=wanted)
        .order_by("state", "id").values_list("state", "name")
    )
    names: dict[str, str] = {}
    for state, name in rows:
        names.setdefault(state, name)
    return names


def simulator_known_state(account: ChannelAccount) -> dict[str, Iterator[dict[str, Any]]]:
    """What the platform would remember of this account, as Siyu holds it, in the shape of the simulator's
    `/_sim/import` control: members (staff with a WeCom userid; those who left as resigned), contact ways of live
    channel codes, every active follow whose customer has an external_userid of this corp (the pairs inheritance and
    mass sends act on), and live customer groups with their current members. Each value iterates rows in chunks."""
    enterprise_id = account.enterprise_id
    members = (
        org_queries.staff(Scope.hq(enterprise_id)).exclude(wecom_userid="")
        .values_list("wecom_userid", "name", "is_active").order_by("id")
    )
    codes = ChannelCode.objects.filter(account=account, status=CodeStatus.ACTIVE).exclude(config_id="").order_by("id")
    follows = (
        Relationship.objects.filter(
            customer__enterprise_id=enterprise_id,
            customer__merged_into=None,
            status=RelationshipStatus.ACTIVE,
            customer__identities__kind=IdentityKind.WECOM_EXTERNAL_USERID,
            customer__identities__account__in=[account.app_id, ""],
        )
        .exclude(staff__wecom_userid="")
        .values_list("staff__wecom_userid", "customer__identities__value", "customer__name", "state", "added_at")
        .order_by("id", "customer__identities__id")
    )
    groups = CustomerGroup.objects.filter(account=account, status=GroupStatus.ACTIVE).exclude(owner_userid="")
    live = GroupMembership.objects.filter(left_at__isnull=True).order_by("id")
    return {
        "members": (
            {"userid": u, "name": n, "resigned": not active} for u, n, active in members.iterator(chunk_size=2000)
        ),
        "contact_ways": (
            {"config_id": c.config_id, "users": list(c.active_userids), "state": c.state} for c in codes.iterator()
        ),
        "follows": (
            {"userid": u, "external_userid": e, "name": n, "state": st, "createtime": int(at.timestamp())}
            for u, e, n, st, at in follows.iterator(chunk_size=2000)
        ),
        "chats": (
            {
                "chat_id": g.chat_id,
                "owner": g.owner_userid,
                "name": g.name,
                "create_time": int(g.platform_created_at.timestamp()) if g.platform_created_at else 0,
                "members": [
                    {"member_id": m.member_id, "type": m.member_type} for m in g.live_members
                ],
            }
            for g in groups.prefetch_related(Prefetch("memberships", queryset=live, to_attr="live_members"))
            .order_by("id").iterator(chunk_size=500)
        ),
    }


# ---------------------------------------------------------------------------------------------------------------
# Mass sends (群发) and moments (朋友圈)
#
# HQ sees every task; others see a mass send when one of its senders is staff they may see, and a moment when one
# of its staff is (a moment for every member is HQ's).

MASS_SEND_KINDS = MassSendKind.choices
MASS_SEND_STATUSES = MassSendStatus.choices
RECIPIENT_STATUSES = RecipientStatus.choices
SENDER_STATUSES = SenderStatus.choices
MOMENT_STATUSES = MomentStatus.choices


def mass_sends(scope: Scope) -> QuerySet[MassSend]:
    qs = MassSend.objects.filter(enterprise_id=scope.enterprise_id)
    if scope.is_hq:
        return qs
    visible = org_queries.visible_staff_ids(scope)
    return qs.filter(Exists(MassSendSender.objects.filter(mass_send_id=OuterRef("pk"), staff_id__in=visible)))


def mass_send_list(scope: Scope, *, page: int = 1, page_size: int = 20, status: str = "") -> Page[MassSend]:
    qs = mass_sends(scope).select_related("account", "created_by")
    if status:
        qs = qs.filter(status=status)
    return paginate(qs.order_by("-created_at", "-id"), page=page, page_size=page_size)


def mass_send_status_counts(scope: Scope) -> dict[str, int]:
    """Tasks per status (every status present, zeros included), for the list page."""
    counts = dict(mass_sends(scope).order_by().values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    return {value: counts.get(value, 0) for value in MassSendStatus.values}


def get_mass_send(scope: Scope, mass_send_id: int) -> MassSend:
    found = (
        mass_sends(scope).select_related("account", "created_by").prefetch_related("tags", "groups")
        .filter(pk=mass_send_id).first()
    )
    if found is None:
        raise NotFound(_("mass send %(mass_send_id)s not found") % {"mass_send_id": mass_send_id}, field="mass_send_id")
    return found


def mass_send_senders(scope: Scope, mass_send_id: int) -> list[MassSendSender]:
    """The senders in scope with their recipient counts by status (sent / not_sent / failed / over_limit): like the
    recipients, another store's senders (their names, their counts) are HQ's and their region's to see."""
    get_mass_send(scope, mass_send_id)
    counted = {s: Count("recipients", filter=Q(recipients__status=s)) for s in RecipientStatus.values}
    senders = MassSendSender.objects.filter(mass_send_id=mass_send_id)
    if not scope.is_hq:
        senders = senders.filter(staff_id__in=org_queries.visible_staff_ids(scope))
    return list(
        senders
        .select_related("staff", "staff__store")
        .annotate(total=Count("recipients"), **counted)
        .order_by("id")
    )


def _mass_send_recipients(scope: Scope, mass_send_id: int, status: str) -> QuerySet[MassSendRecipient]:
    """The recipients of the senders in scope: a task is visible once one of its senders is, but the other senders'
    recipients (another store's customers) are not; HQ sees them all."""
    get_mass_send(scope, mass_send_id)
    qs = MassSendRecipient.objects.filter(mass_send_id=mass_send_id).select_related(
        "customer", "group", "sender", "sender__staff"
    )
    if not scope.is_hq:
        qs = qs.filter(sender__staff_id__in=org_queries.visible_staff_ids(scope))
    if status in RecipientStatus.values:
        qs = qs.filter(status=status)
    return qs.order_by("id")


def mass_send_recipients(
    scope: Scope, mass_send_id: int, *, status: str = "", limit: int = 1000
) -> list[MassSendRecipient]:
    return list(_mass_send_recipients(scope, mass_send_id, status)[:limit])


def mass_send_recipients_page(
    scope: Scope, mass_send_id: int, *, status: str = "", page: int = 1, page_size: int = 50
) -> Page[MassSendRecipient]:
    """One page of the recipients in scope (an unknown status filter shows them all)."""
    return paginate(_mass_send_recipients(scope, mass_send_id, status), page=page, page_size=page_size)


def mass_send_recipient_counts(scope: Scope, mass_send_id: int) -> dict[str, int]:
    """status -> recipients in scope, and "all": one aggregate query, for the summary above the list."""
    rows = (
        _mass_send_recipients(scope, mass_send_id, "").select_related(None).order_by()
        .values("status").annotate(n=Count("id"))
    )
    counts = {row["status"]: row["n"] for row in rows}
    return {"all": sum(counts.values()), **counts}


def mass_send_preview(scope: Scope, mass_send_id: int) -> dict[int, int]:
    """For a draft: staff id -> how many recipients a submit would give that sender now."""
    return preview_counts(scope, get_mass_send(scope, mass_send_id))


def moments(scope: Scope) -> QuerySet[MomentTask]:
    qs = MomentTask.objects.filter(enterprise_id=scope.enterprise_id)
    if scope.is_hq:
        return qs
    through = MomentTask.staff.through.objects.filter(
        momenttask_id=OuterRef("pk"), staff_id__in=org_queries.visible_staff_ids(scope)
    )
    return qs.filter(Exists(through))


def moment_list(scope: Scope, *, page: int = 1, page_size: int = 20, status: str = "") -> Page[MomentTask]:
    qs = moments(scope).select_related("account", "created_by")
    if status:
        qs = qs.filter(status=status)
    return paginate(qs.order_by("-created_at", "-id"), page=page, page_size=page_size)


def moment_status_counts(scope: Scope) -> dict[str, int]:
    counts = dict(moments(scope).order_by().values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    return {value: counts.get(value, 0) for value in MomentStatus.values}


def get_moment(scope: Scope, task_id: int) -> MomentTask:
    found = (
        moments(scope).select_related("account", "created_by").prefetch_related("staff", "tags")
        .filter(pk=task_id).first()
    )
    if found is None:
        raise NotFound(_("moment task %(task_id)s not found") % {"task_id": task_id}, field="task_id")
    return found


def moment_can_submit(task: MomentTask) -> bool:
    """A draft, or a task WeCom itself rejected (e.g. still rate limited after every retry)."""
    return resubmittable(task)


def mass_send_groups(scope: Scope) -> QuerySet[CustomerGroup]:
    """Active groups the caller may pick for a group send."""
    return groups(scope).filter(status=GroupStatus.ACTIVE).select_related("owner").order_by("name", "id")


# ---------------------------------------------------------------------------------------------------------------
# Group codes (群活码)


def group_codes(scope: Scope) -> QuerySet[GroupCode]:
    """HQ sees every code; others those of their stores or over a group owned by staff they may see."""
    qs = GroupCode.objects.filter(enterprise_id=scope.enterprise_id)
    if scope.is_hq:
        return qs
    visible = org_queries.visible_staff_ids(scope)
    owned = GroupCodeSlot.objects.filter(code_id=OuterRef("pk"), group__owner_id__in=visible)
    stores = org_queries.stores(scope).values_list("id", flat=True)
    return qs.filter(Q(Exists(owned)) | Q(store_id__in=stores))


def routable_group_codes(scope: Scope) -> QuerySet[GroupCode]:
    """Codes a route (auto-pull, keyword group) may lead to: the visible ones that are not disabled."""
    return group_codes(scope).exclude(status=GroupCodeStatus.DISABLED).order_by("name", "id")


def group_code_list(scope: Scope, *, page: int = 1, page_size: int = 20, status: str = "") -> Page[GroupCode]:
    qs = group_codes(scope).select_related("store", "account", "current_group").annotate(
        group_count=Count("slots", distinct=True),
        open_notice=Exists(GroupCodeNotice.objects.filter(code_id=OuterRef("pk"), resolved_at__isnull=True)),
    )
    if status:
        qs = qs.filter(status=status)
    return paginate(qs.order_by("-created_at", "-id"), page=page, page_size=page_size)


def get_group_code(scope: Scope, code_id: int) -> GroupCode:
    found = group_codes(scope).select_related("store", "account", "current_group").filter(pk=code_id).first()
    if found is None:
        raise NotFound(_("group code %(code_id)s not found") % {"code_id": code_id}, field="code_id")
    return found


@dataclass(frozen=True)
class GroupCodeDayStats:
    day: date
    scans: int
    joins: int
    quits: int

    @property
    def net(self) -> int:
        return self.joins - self.quits


@dataclass(frozen=True)
class GroupCodeGroupStats:
    group_id: int
    chat_id: str
    name: str
    owner: str
    members: int
    joins: int
    quits: int
    current: bool
    full: bool
    cap: int = 0  # the group's cap: its own, else the code's
    own_cap: int | None = None
    hours: tuple[dict[str, Any], ...] = ()  # when it takes joiners (none: always)
    in_hours: bool = True  # inside its hours now

    @property
    def hours_text(self) -> str:
        return schedules.format_windows(self.hours)


@dataclass(frozen=True)
class GroupCodeStats:
    days: list[GroupCodeDayStats]
    groups: list[GroupCodeGroupStats]
    scans: int
    joins: int
    quits: int
    open_notices: list[GroupCodeNotice]

    @property
    def net(self) -> int:
        return self.joins - self.quits


def group_code_stats(scope: Scope, code_id: int, *, days: int = 30, until: date | None = None) -> GroupCodeStats:
    """Scans, joins, quits and net per Shanghai day (zeros filled in) and in all; per group: live members, joins
    and quits through the code. Totals of joins and quits come from the join rows (one per member and group)."""
    code = get_group_code(scope, code_id)
    last = until or local_day(now())
    first = last - timedelta(days=days - 1)
    rows = {r.day: r for r in GroupCodeDay.objects.filter(code=code, day__gte=first, day__lte=last)}
    series = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        row = rows.get(day)
        series.append(GroupCodeDayStats(day, row.scans if row else 0, row.joins if row else 0,
                                        row.quits if row else 0))
    per_group: dict[int, dict[str, int]] = {
        r["group_id"]: {"joins": r["joins"], "quits": r["quits"]}
        for r in GroupCodeJoin.objects.filter(code=code).values("group_id").annotate(
            joins=Count("id"), quits=Count("id", filter=Q(left_at__isnull=False))
        )
    }
    slots = list(GroupCodeSlot.objects.filter(code=code).select_related("group", "group__owner").order_by("sort"))
    live = dict(
        GroupMembership.objects.filter(group_id__in=[s.group_id for s in slots], left_at__isnull=True)
        .values("group_id").annotate(n=Count("id")).values_list("group_id", "n")
    )
    moment = now()
    groups = [
        GroupCodeGroupStats(
            group_id=s.group_id, chat_id=s.group.chat_id, name=s.group.name, owner=s.group.owner.name if s.group.owner
            else s.group.owner_userid, members=live.get(s.group_id, 0),
            joins=per_group.get(s.group_id, {}).get("joins", 0), quits=per_group.get(s.group_id, {}).get("quits", 0),
            current=s.group_id == code.current_group_id, full=live.get(s.group_id, 0) >= (s.cap or code.cap),
            cap=s.cap or code.cap, own_cap=s.cap, hours=tuple(s.hours or ()),
            in_hours=not s.hours or schedules.in_windows(s.hours, moment),
        )
        for s in slots
    ]
    totals = GroupCodeJoin.objects.filter(code=code).aggregate(
        joins=Count("id"), quits=Count("id", filter=Q(left_at__isnull=False))
    )
    scans = GroupCodeDay.objects.filter(code=code).aggregate(s=Sum("scans"))["s"] or 0
    notices = list(GroupCodeNotice.objects.filter(code=code, resolved_at__isnull=True).select_related("staff"))
    return GroupCodeStats(days=series, groups=groups, scans=scans, joins=totals["joins"] or 0,
                          quits=totals["quits"] or 0, open_notices=notices)


def group_code_choices(scope: Scope, account_id: int | None = None, tag_id: int | None = None
                       ) -> list[tuple[int, str]]:
    """Groups a code may take: alive, visible, in no code yet (with the group tag, when one is given)."""
    qs = groups(scope).filter(status=GroupStatus.ACTIVE).exclude(
        Exists(GroupCodeSlot.objects.filter(group_id=OuterRef("pk")))
    ).select_related("owner")
    if tag_id is not None:
        qs = qs.filter(Exists(GroupTagging.objects.filter(group_id=OuterRef("pk"), tag_id=tag_id)))
    if account_id is not None:
        qs = qs.filter(account_id=account_id)
    return [
        (g.pk, f"{g.name or g.chat_id} · {g.owner.name if g.owner else g.owner_userid} · {g.member_count}")
        for g in qs.order_by("account_id", "name", "id")[:500]
    ]


@dataclass(frozen=True)
class DuplicateMember:
    member_id: str
    customer_id: int | None
    name: str
    group_ids: list[int]
    group_names: list[str]


@dataclass(frozen=True)
class DuplicatePage:
    items: list[DuplicateMember]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def duplicate_members(scope: Scope, *, page: int = 1, page_size: int = 50) -> DuplicatePage:
    """Customers who are live members of more than one group the caller may see, most groups first. One grouped
    query finds them (member_id with COUNT(DISTINCT group) > 1); a second reads their groups for the page."""
    visible = groups(scope).filter(status=GroupStatus.ACTIVE).values("id")
    live = GroupMembership.objects.filter(
        group_id__in=visible, left_at__isnull=True, member_type=MemberType.EXTERNAL
    )
    dup = (
        live.values("member_id")
        .annotate(n=Count("group_id", distinct=True))
        .filter(n__gt=1)
        .order_by("-n", "member_id")
    )
    page, page_size = max(1, min(page, 100_000)), max(1, min(page_size, 200))
    total = dup.count()
    ids = [str(row["member_id"]) for row in dup[(page - 1) * page_size : page * page_size]]
    rows = live.filter(member_id__in=ids).select_related("group").order_by("group__name", "group_id")
    by_member: dict[str, list[GroupMembership]] = {}
    for stint in rows:
        by_member.setdefault(stint.member_id, []).append(stint)
    items = [
        DuplicateMember(
            member_id=member_id,
            customer_id=next((s.customer_id for s in by_member.get(member_id, []) if s.customer_id), None),
            name=next((s.name for s in by_member.get(member_id, []) if s.name), ""),
            group_ids=[s.group_id for s in by_member.get(member_id, [])],
            group_names=[s.group.name or s.group.chat_id for s in by_member.get(member_id, [])],
        )
        for member_id in ids
    ]
    return DuplicatePage(items=items, total=total, page=page, page_size=page_size)


def group_transfers(scope: Scope) -> QuerySet[GroupTransfer]:
    qs = GroupTransfer.objects.filter(enterprise_id=scope.enterprise_id)
    if scope.is_hq:
        return qs
    return qs.filter(handover_id__in=org_queries.visible_staff_ids(scope))


def group_transfer_list(scope: Scope, *, page: int = 1, page_size: int = 20) -> Page[GroupTransfer]:
    qs = group_transfers(scope).select_related("handover", "takeover").annotate(
        group_total=Count("items"), refused=Count("items", filter=Q(items__status="refused")))
    return paginate(qs.order_by("-created_at", "-id"), page=page, page_size=page_size)


def get_group_transfer(scope: Scope, transfer_id: int) -> GroupTransfer:
    found = group_transfers(scope).select_related("handover", "takeover").filter(pk=transfer_id).first()
    if found is None:
        raise NotFound(
            _("group transfer %(transfer_id)s not found") % {"transfer_id": transfer_id},
            field="transfer_id",
        )
    return found


def group_transfer_items(scope: Scope, transfer_id: int) -> list[GroupTransferItem]:
    job = get_group_transfer(scope, transfer_id)
    return list(job.items.select_related("group").order_by("status", "id"))


def _route_rows(qs: QuerySet[GroupRoute]) -> list[GroupRoute]:
    return list(qs.select_related("group_code", "tag", "tag__group", "store").order_by("sort", "id"))


def channel_code_routes(scope: Scope, code_id: int) -> list[GroupRoute]:
    code = get_code(scope, code_id)
    return _route_rows(GroupRoute.objects.filter(channel_code=code))


def keyword_group_routes(scope: Scope, keyword_group_id: int) -> list[GroupRoute]:
    group = get_keyword_group(scope, keyword_group_id)
    return _route_rows(GroupRoute.objects.filter(keyword_group=group))


def keyword_groups(scope: Scope) -> QuerySet[KeywordGroup]:
    """Keyword groups answer on an Official Account: read by everyone of the enterprise, as the OA's replies are."""
    return KeywordGroup.objects.filter(enterprise_id=scope.enterprise_id)


def keyword_group_list(scope: Scope, *, page: int = 1, page_size: int = 20) -> Page[KeywordGroup]:
    qs = keyword_groups(scope).select_related("oa_account").prefetch_related(Prefetch(
        "routes", queryset=GroupRoute.objects.select_related("group_code", "tag", "store").order_by("sort", "id")))
    return paginate(qs.order_by("-created_at", "-id"), page=page, page_size=page_size)


def get_keyword_group(scope: Scope, keyword_group_id: int) -> KeywordGroup:
    found = keyword_groups(scope).filter(pk=keyword_group_id).first()
    if found is None:
        raise NotFound(
            _("keyword group %(keyword_group_id)s not found") % {"keyword_group_id": keyword_group_id},
            field="keyword_group_id",
        )
    return found


# ---------------------------------------------------------------------------------------------------------------
# Tag-built groups (标签建群): mass sends that invite into a group code


def tag_group_list(scope: Scope, *, page: int = 1, page_size: int = 20) -> Page[MassSend]:
    qs = mass_sends(scope).filter(group_code__isnull=False).select_related("group_code", "created_by")
    return paginate(qs.prefetch_related("tags").order_by("-created_at", "-id"), page=page, page_size=page_size)


def segment_choices(scope: Scope) -> list[tuple[int, str]]:
    """The segments the operator may pick customers by (through the customers app's hook; none without audiences)."""
    return customer_queries.segment_choices(scope)


def get_tag_group(scope: Scope, mass_send_id: int) -> MassSend:
    found = mass_sends(scope).filter(pk=mass_send_id, group_code__isnull=False).select_related(
        "group_code", "account").prefetch_related("tags").first()
    if found is None:
        raise NotFound(_("tag-built group %(mass_send_id)s not found")
            % {"mass_send_id": mass_send_id}, field="tag_built_id")
    return found


@dataclass(frozen=True)
class TagGroupResults:
    staff_total: int  # staff members given the task
    staff_sent: int  # of them, those who have sent it
    invited: int  # customers the invitation was addressed to
    delivered: int  # of them, those WeCom reports it reached
    joined: int  # invited customers who joined one of the code's groups after the task was created


def tag_group_results(scope: Scope, mass_send_id: int) -> TagGroupResults:
    """Counted in SQL: the senders by status, the recipients by status, and the invited customers with a membership
    in one of the code's groups that began after the task (a member already in a group before it is not counted)."""
    task = get_tag_group(scope, mass_send_id)
    sender_rows = MassSendSender.objects.filter(mass_send=task, part=0)
    recipient_rows = MassSendRecipient.objects.filter(mass_send=task)
    if not scope.is_hq:  # like the mass send's page: another store's senders and customers are not counted here
        visible = org_queries.visible_staff_ids(scope)
        sender_rows = sender_rows.filter(staff_id__in=visible)
        recipient_rows = recipient_rows.filter(sender__staff_id__in=visible)
    senders = sender_rows.aggregate(total=Count("id"), sent=Count("id", filter=Q(status=SenderStatus.SENT)))
    recipients = recipient_rows.aggregate(
        invited=Count("customer_id", distinct=True),
        delivered=Count("customer_id", distinct=True, filter=Q(status=RecipientStatus.SENT)))
    joined = (GroupMembership.objects.filter(
        group_id__in=GroupCodeSlot.objects.filter(code_id=task.group_code_id).values("group_id"),
        customer_id__in=recipient_rows.values("customer_id"),
        joined_at__gte=task.created_at.replace(microsecond=0),  # WeCom's join_time is whole seconds
    ).values("customer_id").distinct().count())
    return TagGroupResults(staff_total=senders["total"], staff_sent=senders["sent"], invited=recipients["invited"],
                           delivered=recipients["delivered"], joined=joined)


# ---------------------------------------------------------------------------------------------------------------
# Group welcome templates (入群欢迎语素材): the enterprise's, read by every role; HQ edits them.


def group_welcomes(scope: Scope) -> QuerySet[GroupWelcome]:
    return GroupWelcome.objects.filter(enterprise_id=scope.enterprise_id).exclude(status=GroupWelcomeStatus.DELETED)


def group_welcome_list(scope: Scope, *, page: int = 1, page_size: int = 20, status: str = "") -> Page[GroupWelcome]:
    qs = group_welcomes(scope).select_related("account").annotate(binding_count=Count("bindings"))
    if status:
        qs = qs.filter(status=status)
    return paginate(qs.order_by("-created_at", "-id"), page=page, page_size=page_size)


def get_group_welcome(scope: Scope, welcome_id: int) -> GroupWelcome:
    found = group_welcomes(scope).select_related("account").filter(pk=welcome_id).first()
    if found is None:
        raise NotFound(_("group welcome template %(id)s not found") % {"id": welcome_id}, field="welcome_id")
    return found


def group_welcome_choices(scope: Scope, account_id: int | None = None) -> list[tuple[int, str]]:
    qs = group_welcomes(scope)
    if account_id is not None:
        qs = qs.filter(account_id=account_id)
    return [(w.pk, w.name) for w in qs.order_by("name", "id")[:200]]


def group_welcome_bindings(scope: Scope, welcome_id: int) -> list[GroupWelcomeBinding]:
    """Where a template is used, limited to the codes and groups the scope may see."""
    get_group_welcome(scope, welcome_id)
    code_ids = group_codes(scope).values("id")
    group_ids = groups(scope).values("id")
    return list(
        GroupWelcomeBinding.objects.filter(welcome_id=welcome_id)
        .filter(Q(group_code_id__in=code_ids) | Q(group_id__in=group_ids))
        .select_related("group_code", "group").order_by("id")[:500]
    )


def code_welcome(scope: Scope, code_id: int) -> GroupWelcome | None:
    code = get_group_code(scope, code_id)
    binding = GroupWelcomeBinding.objects.filter(group_code=code).select_related("welcome").first()
    return binding.welcome if binding else None


@dataclass(frozen=True)
class EffectiveWelcome:
    welcome: GroupWelcome | None
    source: str  # "group" (its own), "code" (its group code's) or "" (none)


def group_welcome_of(scope: Scope, group_id: int) -> EffectiveWelcome:
    """The template a group's owner should apply: the group's own, else its group code's."""
    group = get_group(scope, group_id)
    own = GroupWelcomeBinding.objects.filter(group=group).select_related("welcome").first()
    if own is not None:
        return EffectiveWelcome(own.welcome, "group")
    code_id = GroupCodeSlot.objects.filter(group=group).values_list("code_id", flat=True).first()
    via = (GroupWelcomeBinding.objects.filter(group_code_id=code_id).select_related("welcome").first()
           if code_id else None)
    return EffectiveWelcome(via.welcome if via else None, "code" if via else "")


# ---------------------------------------------------------------------------------------------------------------
# Group analytics: customers' joins, quits and net per Shanghai day, by group, group code or owner


ANALYTICS_BY = {"group": _("Group"), "code": _("Group code"), "owner": _("Owner"), "store": _("Store")}
ANALYTICS_MAX_DAYS = 366


@dataclass(frozen=True)
class AnalyticsDay:
    day: date
    joins: int
    quits: int
    members: int = 0  # customers in the groups at the end of the day

    @property
    def net(self) -> int:
        return self.joins - self.quits


@dataclass(frozen=True)
class AnalyticsRow:
    key: int | None  # the group's, code's or owner's id (None: groups without a known owner)
    name: str
    joins: int
    quits: int
    members: int  # customers in the group(s) at the end of the range

    @property
    def net(self) -> int:
        return self.joins - self.quits


@dataclass(frozen=True)
class AnalyticsCell:
    day: date
    key: int | None
    name: str
    joins: int
    quits: int

    @property
    def net(self) -> int:
        return self.joins - self.quits


@dataclass(frozen=True)
class GroupAnalytics:
    by: str
    start: date
    end: date
    days: list[AnalyticsDay]
    rows: list[AnalyticsRow]  # one page of them
    total_rows: int
    page: int
    pages: int
    joins: int
    quits: int

    @property
    def net(self) -> int:
        return self.joins - self.quits

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def analytics_range(start: date | None, end: date | None) -> tuple[date, date]:
    """[start, end] in Shanghai days; the last 30 days by default; at most 366 days."""
    last = end or local_day(now())
    first = start or last - timedelta(days=29)
    if first > last:
        raise ValidationFailed(_("the start day is after the end day"), field="start", code="bad_range")
    if (last - first).days + 1 > ANALYTICS_MAX_DAYS:
        raise ValidationFailed(
            _("at most %(n)s days at a time") % {"n": ANALYTICS_MAX_DAYS}, field="end", code="range_too_long"
        )
    return first, last


def _analytics_base(scope: Scope, by: str) -> tuple[QuerySet[Any], str]:
    """Customers' membership stints in the groups the scope may see, with the dimension's key as `k`."""
    if by not in ANALYTICS_BY:
        raise ValidationFailed(_("by is group, code, owner or store"), field="by", code="unknown_by")
    base = GroupMembership.objects.filter(group_id__in=groups(scope).values("id"), member_type=MemberType.EXTERNAL)
    if by == "group":
        return base.annotate(k=F("group_id")), "k"
    if by == "owner":
        return base.annotate(k=F("group__owner_id")), "k"
    if by == "store":  # the store of the group's owner
        return base.annotate(k=F("group__owner__store_id")), "k"
    code = GroupCodeSlot.objects.filter(group_id=OuterRef("group_id")).values("code_id")[:1]
    return base.annotate(k=Subquery(code)).filter(k__isnull=False), "k"


def _counts_by_day_and_key(qs: QuerySet[Any], column: str, first: date, last: date
                           ) -> dict[tuple[date, int | None], int]:
    lo, _ignored = day_bounds(first)
    _ignored2, hi = day_bounds(last)
    rows = (qs.filter(**{f"{column}__gte": lo, f"{column}__lt": hi})
            .annotate(day=TruncDate(column, tzinfo=SHANGHAI)).values("day", "k").annotate(n=Count("id"))
            .values_list("day", "k", "n"))
    return {(day, key): n for day, key, n in rows}


def _analytics_names(by: str, keys: Iterable[int | None], enterprise_id: int) -> dict[int | None, str]:
    ids = [k for k in keys if k is not None]
    names: dict[int | None, str]
    if by == "group":
        names = {g.pk: g.name or g.chat_id for g in CustomerGroup.objects.filter(pk__in=ids)}
    elif by == "code":
        names = dict(GroupCode.objects.filter(pk__in=ids, enterprise_id=enterprise_id).values_list("id", "name"))
    elif by == "store":
        names = dict(org_queries.stores(Scope.hq(enterprise_id)).filter(pk__in=ids).values_list("id", "name"))
        return {**names, None: str(_("No store"))}
    else:
        names = dict(org_queries.staff(Scope.hq(enterprise_id)).filter(pk__in=ids).values_list("id", "name"))
    return {**names, None: str(_("No owner"))}


def _analytics_cells(scope: Scope, by: str, first: date, last: date
                     ) -> tuple[dict[tuple[date, int | None], int], dict[tuple[date, int | None], int], dict[Any, int]]:
    base, _k = _analytics_base(scope, by)
    joins = _counts_by_day_and_key(base, "joined_at", first, last)
    quits = _counts_by_day_and_key(base, "left_at", first, last)
    _ignored, end_at = day_bounds(last)
    members = dict(
        base.filter(joined_at__lt=end_at).filter(Q(left_at__isnull=True) | Q(left_at__gte=end_at))
        .values("k").annotate(n=Count("id")).values_list("k", "n")
    )
    return joins, quits, members


def group_analytics(scope: Scope, *, by: str = "group", start: date | None = None, end: date | None = None,
                    page: int = 1, page_size: int = 20) -> GroupAnalytics:
    """Customers joining and quitting the groups in scope, per Shanghai day (zeros filled in) and per group, group
    code or owner, counted in the database from the membership stints (a join is a stint's start, a quit its end;
    staff members are not counted). Rows are ordered by joins, then net, then name."""
    first, last = analytics_range(start, end)
    joins, quits, members = _analytics_cells(scope, by, first, last)
    per_day: dict[date, list[int]] = {}
    per_key: dict[int | None, list[int]] = {key: [0, 0] for key in members}
    for index, counts in enumerate((joins, quits)):
        for (day, key), n in counts.items():
            per_day.setdefault(day, [0, 0])[index] += n
            per_key.setdefault(key, [0, 0])[index] += n
    # Members over time without another query: the members at the end of the range, walked back day by day.
    at_end, days = sum(members.values()), []
    for offset in range((last - first).days, -1, -1):
        day = first + timedelta(days=offset)
        j, q = per_day.get(day, (0, 0))
        days.append(AnalyticsDay(day, j, q, at_end))
        at_end -= j - q
    days.reverse()
    names = _analytics_names(by, per_key, scope.enterprise_id)
    rows = sorted(
        (AnalyticsRow(key, names.get(key, str(key)), j, q, members.get(key, 0)) for key, (j, q) in per_key.items()),
        key=lambda r: (-r.joins, -r.net, r.name, r.key or 0),
    )
    pages = max(1, -(-len(rows) // page_size))
    page = min(max(1, page), pages)
    return GroupAnalytics(by=by, start=first, end=last, days=days,
                          rows=rows[(page - 1) * page_size: page * page_size], total_rows=len(rows), page=page,
                          pages=pages, joins=sum(d.joins for d in days), quits=sum(d.quits for d in days))


def group_analytics_cells(scope: Scope, *, by: str = "group", start: date | None = None, end: date | None = None
                          ) -> list[AnalyticsCell]:
    """Every (day, group|code|owner) with a join or a quit in the range: what the Excel export lists."""
    first, last = analytics_range(start, end)
    joins, quits, _members = _analytics_cells(scope, by, first, last)
    cells = sorted(set(joins) | set(quits), key=lambda c: (c[0], c[1] or 0))
    names = _analytics_names(by, {key for _day, key in cells}, scope.enterprise_id)
    return [AnalyticsCell(day, key, names.get(key, str(key)), joins.get((day, key), 0), quits.get((day, key), 0))
            for day, key in cells]


# ---------------------------------------------------------------------------------------------------------------
# Group tags


def group_tags(scope: Scope) -> QuerySet[GroupTag]:
    """The enterprise's group tags (everyone reads them), with how many groups in scope carry each."""
    return GroupTag.objects.filter(enterprise_id=scope.enterprise_id).annotate(
        group_count=Count("taggings", filter=Q(taggings__group_id__in=groups(scope).values("id")))
    ).order_by("name", "id")


def group_tag_choices(scope: Scope) -> list[tuple[int, str]]:
    return list(GroupTag.objects.filter(enterprise_id=scope.enterprise_id).order_by("name", "id")
                .values_list("id", "name")[:500])


def tags_of_group(scope: Scope, group_id: int) -> list[GroupTag]:
    group = get_group(scope, group_id)
    return list(GroupTag.objects.filter(taggings__group=group).order_by("name", "id"))


# ---------------------------------------------------------------------------------------------------------------
# Group SOP (社群SOP)


def group_sops(scope: Scope) -> QuerySet[GroupSop]:
    """Read by everyone of the enterprise (HQ writes); the per-group results below are scoped to the reader."""
    return GroupSop.objects.filter(enterprise_id=scope.enterprise_id)


def group_sop_list(scope: Scope, *, page: int = 1, page_size: int = 20) -> Page[GroupSop]:
    qs = group_sops(scope).select_related("group_tag", "group_code", "account").annotate(run_count=Count("runs"))
    return paginate(qs.order_by("-created_at", "-id"), page=page, page_size=page_size)


def get_group_sop(scope: Scope, sop_id: int) -> GroupSop:
    found = group_sops(scope).select_related("group_tag", "group_code", "account").filter(pk=sop_id).first()
    if found is None:
        raise NotFound(_("group SOP %(id)s not found") % {"id": sop_id}, field="sop_id")
    return found


def group_sop_runs(scope: Scope, sop_id: int, *, page: int = 1, page_size: int = 20) -> Page[GroupSopRun]:
    sop = get_group_sop(scope, sop_id)
    return paginate(GroupSopRun.objects.filter(sop=sop).order_by("-occurrence", "-id"), page=page,
                    page_size=page_size)


def get_group_sop_run(scope: Scope, run_id: int) -> GroupSopRun:
    found = GroupSopRun.objects.filter(pk=run_id, sop__enterprise_id=scope.enterprise_id).select_related(
        "sop").first()
    if found is None:
        raise NotFound(_("group SOP run %(id)s not found") % {"id": run_id}, field="run_id")
    return found


@dataclass(frozen=True)
class SopGroupResult:
    group_id: int
    group_name: str
    owner_name: str
    status: str  # a mass-send recipient status, or "reminded" for a reminder-only run


def group_sop_run_results(scope: Scope, run_id: int) -> list[SopGroupResult]:
    """Per group of the run that the reader may see: what the group mass send reports for it (sent, not sent yet,
    failed), or "reminded" when the SOP only reminds the owners. Two queries."""
    run = get_group_sop_run(scope, run_id)
    visible = groups(scope).filter(id__in=list(run.group_ids)).select_related("owner").order_by("id")
    statuses = dict(MassSendRecipient.objects.filter(
        mass_send__in=run.mass_sends.all(), group_id__in=list(run.group_ids)).values_list("group_id", "status"))
    fallback = "reminded" if not run.sop.send_messages else RecipientStatus.NOT_SENT
    return [SopGroupResult(group_id=g.pk, group_name=g.name or g.chat_id,
                           owner_name=g.owner.name if g.owner is not None else "",
                           status=statuses.get(g.pk, fallback)) for g in visible]


# ---------------------------------------------------------------------------------------------------------------
# Conversion of group members vs non-members


@dataclass(frozen=True)
class ConversionRow:
    key: int | None
    name: str
    customers: int
    buyers: int

    @property
    def rate(self) -> float:
        return self.buyers / self.customers if self.customers else 0.0


@dataclass(frozen=True)
class GroupConversion:
    start: date
    end: date
    members: ConversionRow  # customers in a group in scope at some time in the range
    non_members: ConversionRow  # the other customers the scope may see
    rows: list[ConversionRow]  # per group or per store (the owner's), most buyers first


def group_conversion(scope: Scope, *, by: str = "group", start: date | None = None, end: date | None = None
                     ) -> GroupConversion:
    """How many of the customers who were in a group during the range paid an order in it (an `order_paid` event),
    against the customers the scope sees who were in no group; and per group or per store. Four grouped queries,
    whatever the number of customers."""
    if by not in ("group", "store"):
        raise ValidationFailed(_("by is group or store"), field="by", code="unknown_by")
    first, last = analytics_range(start, end)
    lo, _ignored = day_bounds(first)
    _ignored2, hi = day_bounds(last)
    visible = customer_queries.visible_customer_ids(scope)
    stints = GroupMembership.objects.filter(
        group_id__in=groups(scope).values("id"), member_type=MemberType.EXTERNAL, customer_id__in=visible,
        joined_at__lt=hi).filter(Q(left_at__isnull=True) | Q(left_at__gte=lo))
    buyers = Event.objects.filter(name="order_paid", occurred_at__gte=lo, occurred_at__lt=hi,
                                  customer_id__in=visible).values("customer_id")
    member_ids = stints.values("customer_id")
    paid = Q(customer_id__in=buyers)
    members = stints.aggregate(n=Count("customer_id", distinct=True),
                               b=Count("customer_id", distinct=True, filter=paid))
    others = Customer.objects.filter(id__in=visible).exclude(id__in=member_ids).aggregate(
        n=Count("id"), b=Count("id", filter=Q(id__in=buyers)))
    column = "group_id" if by == "group" else "group__owner__store_id"
    per = (stints.annotate(k=F(column)).values("k")
           .annotate(n=Count("customer_id", distinct=True), b=Count("customer_id", distinct=True, filter=paid))
           .values_list("k", "n", "b"))
    cells = list(per)
    names = _analytics_names(by, [k for k, _n, _b in cells], scope.enterprise_id)
    rows = sorted((ConversionRow(k, names.get(k, str(k)), n, b) for k, n, b in cells),
                  key=lambda r: (-r.buyers, -r.customers, r.name))
    return GroupConversion(
        start=first, end=last, rows=rows,
        members=ConversionRow(None, str(_("Group members")), members["n"], members["b"]),
        non_members=ConversionRow(None, str(_("Not in a group")), others["n"], others["b"]))


def group_admin_names(scope: Scope, group: CustomerGroup) -> list[str]:
    """The group's admins (群管理员) by name where they are staff of the enterprise, else by WeCom userid."""
    ids = list(group.admin_userids or [])
    names = dict(org_queries.staff(Scope.hq(scope.enterprise_id)).filter(wecom_userid__in=ids)
                 .values_list("wecom_userid", "name"))
    return [names.get(u, u) for u in ids]
