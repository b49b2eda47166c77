"""Read paths for WeCom's console pages and API. Every function takes a Scope.

HQ sees every code, group and inheritance; others see those of the staff they may see (a code through its members
or its store, a group through its owner, an inheritance through the staff member handing over). The outbox and
sync runs are HQ's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Sum
from django.utils.translation import gettext_lazy as _

from siyu.channels.models import AccountKind, ChannelAccount
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
    GroupStatus,
    GroupTransfer,
    GroupTransferItem,
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
    SyncRun,
    TransferItem,
    TransferItemStatus,
    TransferJob,
    TransferKind,
)
from siyu.channels.wecom.moments import resubmittable
from siyu.core.errors import NotFound, PermissionDenied
from siyu.core.pagination import Page, paginate
from siyu.core.timeutil import local_day, now
from siyu.customers.models import Identity, IdentityKind, Relationship, RelationshipStatus
from siyu.org import queries as org_queries
from siyu.org.scope import Scope

ASSIGN_MODES = AssignMode.choices
CODE_STATUSES = CodeStatus.choices
TRANSFER_KINDS = TransferKind.choices
TRANSFER_ITEM_STATUSES = TransferItemStatus.choices
CALL_STATUSES = CallStatus.choices
GROUP_STATUSES = GroupStatus.choices
GROUP_CODE_STATUSES = GroupCodeStatus.choices


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


def group_list(scope: Scope, *, page: int = 1, page_size: int = 20, q: str = "") -> Page[CustomerGroup]:
    qs = groups(scope).select_related("owner")
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


def transfer_items(scope: Scope, job_id: int, *, status: str = "") -> list[TransferItem]:
    job = get_transfer(scope, job_id)
    qs = job.items.select_related("customer")
    if status:
        qs = qs.filter(status=status)
    return list(qs.order_by("id")[:1000])


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


def get_sync_run(scope: Scope, run_id: int) -> SyncRun:
    _hq(scope)
    found = SyncRun.objects.filter(account__enterprise_id=scope.enterprise_id, pk=run_id).first()
    if found is None:
        raise NotFound(_("sync run %(run_id)s not found") % {"run_id": run_id}, field="run_id")
    return found


# ---------------------------------------------------------------------------------------------------------------
# The simulator's bootstrap (a system read: the simulator plays the platform, which remembers what Siyu created)


@dataclass(frozen=True)
class KnownWay:
    config_id: str
    users: list[str]
    state: str


def simulator_bootstrap(
    account: ChannelAccount, *, limit: int = 5000
) -> tuple[list[KnownWay], list[tuple[str, str]]]:
    """Contact ways Siyu created and the (staff userid, external_userid) pairs it holds, for a restarted simulator."""
    ways = [
        KnownWay(code.config_id, list(code.active_userids), code.state)
        for code in ChannelCode.objects.filter(account=account, status=CodeStatus.ACTIVE).exclude(config_id="")
    ]
    ext = Identity.objects.filter(customer_id=OuterRef("customer_id"), kind=IdentityKind.WECOM_EXTERNAL_USERID)
    pairs = (
        Relationship.objects.filter(
            customer__enterprise_id=account.enterprise_id, status=RelationshipStatus.ACTIVE, customer__merged_into=None
        )
        .exclude(staff__wecom_userid="")
        .filter(Exists(ext))
        .values_list("staff__wecom_userid", "customer__identities__value", "customer__identities__kind")
    )
    wecom = IdentityKind.WECOM_EXTERNAL_USERID
    follows = [(userid, value) for userid, value, kind in pairs[: limit * 3] if kind == wecom]
    return ways, follows[:limit]


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


def mass_send_recipients(
    scope: Scope, mass_send_id: int, *, status: str = "", limit: int = 1000
) -> list[MassSendRecipient]:
    """The recipients of the senders in scope: a task is visible once one of its senders is, but the other senders'
    recipients (another store's customers) are not; HQ sees them all."""
    get_mass_send(scope, mass_send_id)
    qs = MassSendRecipient.objects.filter(mass_send_id=mass_send_id).select_related(
        "customer", "group", "sender", "sender__staff"
    )
    if not scope.is_hq:
        qs = qs.filter(sender__staff_id__in=org_queries.visible_staff_ids(scope))
    if status:
        qs = qs.filter(status=status)
    return list(qs.order_by("id")[:limit])


def mass_send_preview(scope: Scope, mass_send_id: int) -> dict[int, int]:
    """For a draft: staff id -> how many recipients a submit would give that sender now."""
    return preview_counts(get_mass_send(scope, mass_send_id))


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
    groups = [
        GroupCodeGroupStats(
            group_id=s.group_id, chat_id=s.group.chat_id, name=s.group.name, owner=s.group.owner.name if s.group.owner
            else s.group.owner_userid, members=live.get(s.group_id, 0),
            joins=per_group.get(s.group_id, {}).get("joins", 0), quits=per_group.get(s.group_id, {}).get("quits", 0),
            current=s.group_id == code.current_group_id, full=live.get(s.group_id, 0) >= code.cap,
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


def group_code_choices(scope: Scope, account_id: int | None = None) -> list[tuple[int, str]]:
    """Groups a code may take: alive, visible, in no code yet."""
    qs = groups(scope).filter(status=GroupStatus.ACTIVE).exclude(
        Exists(GroupCodeSlot.objects.filter(group_id=OuterRef("pk")))
    ).select_related("owner")
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


def channel_code_routes(scope: Scope, code_id: int) -> list[GroupRoute]:
    code = get_code(scope, code_id)
    return list(GroupRoute.objects.filter(channel_code=code).order_by("sort", "id"))


def keyword_groups(scope: Scope) -> QuerySet[KeywordGroup]:
    """Keyword groups answer on an Official Account: read by everyone of the enterprise, as the OA's replies are."""
    return KeywordGroup.objects.filter(enterprise_id=scope.enterprise_id)


def keyword_group_list(scope: Scope, *, page: int = 1, page_size: int = 20) -> Page[KeywordGroup]:
    qs = keyword_groups(scope).prefetch_related(Prefetch("routes", queryset=GroupRoute.objects.order_by("sort", "id")))
    return paginate(qs.order_by("-created_at", "-id"), page=page, page_size=page_size)


def get_keyword_group(scope: Scope, keyword_group_id: int) -> KeywordGroup:
    found = keyword_groups(scope).filter(pk=keyword_group_id).first()
    if found is None:
        raise NotFound(
            _("keyword group %(keyword_group_id)s not found") % {"keyword_group_id": keyword_group_id},
            field="keyword_group_id",
        )
    return found
