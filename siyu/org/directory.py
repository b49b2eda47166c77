"""Applying WeCom's department tree and member list to the organisation (the fetch is channels.wecom.directory:
no network call happens here, and this runs in one short transaction).

- Every department becomes (or updates) a DepartmentLink; the operator's mapping on it is kept across syncs.
- A member's place is their main department's mapping, or the nearest mapped ancestor's.
- New members become staff (store staff) in that place; a member whose main department changed since the last sync
  is moved to the new department's place; store staff still without a store are placed once their department is
  mapped; a member still in the same department otherwise keeps what HQ set by hand.
- Members seen by an earlier sync and now gone from WeCom (or quit) are marked as left, so resigned-staff
  inheritance (离职继承) offers their customers. Someone HQ marked as left is not brought back by a sync.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_

from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import ValidationFailed
from siyu.core.timeutil import now
from siyu.org.models import DepartmentLink, Role, Staff, Store

ACTIVE_STATUSES = frozenset({1, 4})  # 1 active, 4 not yet activated; 2 disabled, 5 quit


@dataclass(frozen=True)
class Department:
    id: int
    name: str
    parent_id: int = 0


@dataclass(frozen=True)
class Member:
    userid: str
    name: str
    main_department: int
    mobile: str = ""
    status: int = 1


@dataclass
class DirectoryResult:
    departments: int = 0
    new_departments: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    unplaced: list[str] = field(default_factory=list)


def _links(enterprise_id: int, account_id: int, departments: Sequence[Department], result: DirectoryResult
           ) -> dict[int, DepartmentLink]:
    existing = {link.department_id: link for link in DepartmentLink.objects.filter(
        enterprise_id=enterprise_id, account_id=account_id)}
    seen_at = now()
    new, changed = [], []
    for dept in departments:
        link = existing.get(dept.id)
        if link is None:
            link = DepartmentLink(enterprise_id=enterprise_id, account_id=account_id, department_id=dept.id,
                                  parent_id=dept.parent_id, name=dept.name[:255], seen_at=seen_at)
            new.append(link)
            existing[dept.id] = link
            result.new_departments.append(dept.name)
        else:
            link.name, link.parent_id, link.seen_at = dept.name[:255], dept.parent_id, seen_at
            changed.append(link)
    DepartmentLink.objects.bulk_create(new)
    DepartmentLink.objects.bulk_update(changed, ["name", "parent_id", "seen_at"])
    return existing


def _places(links: dict[int, DepartmentLink]) -> dict[int, tuple[int | None, int | None]]:
    """department id -> (store_id, region_id) from its own mapping or its nearest mapped ancestor."""
    store_regions = dict(Store.objects.filter(pk__in=[link.store_id for link in links.values() if link.store_id])
                         .values_list("id", "region_id"))
    places: dict[int, tuple[int | None, int | None]] = {}
    for dept_id in links:
        current: int | None = dept_id
        hops = 0
        place: tuple[int | None, int | None] = (None, None)
        while current is not None and current in links and hops < 64:
            link = links[current]
            if link.store_id is not None:
                place = (link.store_id, store_regions.get(link.store_id))
                break
            if link.region_id is not None:
                place = (None, link.region_id)
                break
            current, hops = (link.parent_id or None), hops + 1
        places[dept_id] = place
    return places


def _place(staff: Staff, store_id: int | None, region_id: int | None) -> None:
    if store_id is not None:
        staff.store_id, staff.region_id = store_id, region_id
    elif region_id is not None:
        staff.region_id = region_id
        if staff.store_id is not None and Store.objects.filter(pk=staff.store_id).exclude(
                region_id=region_id).exists():
            staff.store_id = None


@transaction.atomic
def apply_directory(
    *, enterprise_id: int, account_id: int, departments: Sequence[Department], members: Sequence[Member],
    actor: Actor = None,
) -> DirectoryResult:
    if not departments or not members:
        # An empty answer is a permissions problem on the platform side (the app's visible range), never "everyone
        # left": refuse rather than mark the whole company as gone.
        raise ValidationFailed(_("WeCom returned no departments or no members; check the app's visible range"),
                               field="account_id", code="empty_directory")
    result = DirectoryResult(departments=len(departments))
    links = _links(enterprise_id, account_id, departments, result)
    places = _places(links)
    staff = {s.wecom_userid: s for s in Staff.objects.filter(enterprise_id=enterprise_id).exclude(wecom_userid="")}
    active = {m.userid: m for m in members if m.status in ACTIVE_STATUSES}
    new, changed = [], []
    for member in active.values():
        store_id, region_id = places.get(member.main_department, (None, None))
        found = staff.get(member.userid)
        if found is None:
            person = Staff(enterprise_id=enterprise_id, wecom_userid=member.userid, name=member.name[:64] or
                           member.userid, mobile=member.mobile[:20], role=Role.STORE_STAFF,
                           wecom_department_id=member.main_department)
            _place(person, store_id, region_id)
            new.append(person)
            result.created.append(member.userid)
            if person.store_id is None:
                result.unplaced.append(member.userid)
            continue
        if not found.is_active:
            continue
        placed = (store_id, region_id) != (None, None)
        if found.wecom_department_id != member.main_department:
            if found.wecom_department_id is not None and placed:
                result.moved.append(member.userid)
            if placed:
                _place(found, store_id, region_id)
            found.wecom_department_id = member.main_department
        elif placed and found.role in (Role.STORE_MANAGER, Role.STORE_STAFF) and found.store_id is None:
            # synced before their department was mapped: the mapping places them now
            _place(found, store_id, region_id)
        found.name = member.name[:64] or found.name
        changed.append(found)
    Staff.objects.bulk_create(new)
    Staff.objects.bulk_update(changed, ["name", "store_id", "region_id", "wecom_department_id"])
    gone = [s for s in staff.values()
            if s.is_active and s.wecom_department_id is not None and s.wecom_userid not in active]
    _mark_left(enterprise_id, gone, actor, result)
    _count_members(links, active.values())
    audit.record(enterprise_id=enterprise_id, actor=actor, action="org.directory_sync", target_type="channel_account",
                 target_id=account_id,
                 summary=audit.text(
                     N_("%(departments)s departments, %(created)s new staff, %(moved)s moved, %(left)s left"),
                     departments=len(departments), created=len(result.created),
                     moved=len(result.moved), left=len(result.left)),
                 changes={"created": result.created[:200], "moved": result.moved[:200], "left": result.left[:200]})
    return result


def _mark_left(enterprise_id: int, gone: list[Staff], actor: Actor, result: DirectoryResult) -> None:
    if not gone:
        return
    at = now()
    Staff.objects.filter(pk__in=[s.pk for s in gone]).update(is_active=False, left_at=at)
    get_user_model().objects.filter(pk__in=[s.user_id for s in gone if s.user_id]).update(is_active=False)
    for person in gone:
        result.left.append(person.wecom_userid)
        audit.record(enterprise_id=enterprise_id, actor=actor, action="staff.left", target_type="staff",
                     target_id=person.pk, summary=audit.text(N_("%(name)s: no longer in WeCom"), name=person.name),
                     changes={"is_active": ["True", "False"]})


def _count_members(links: dict[int, DepartmentLink], members: Iterable[Member]) -> None:
    counts: dict[int, int] = {}
    for member in members:
        counts[member.main_department] = counts.get(member.main_department, 0) + 1
    for link in links.values():
        link.member_count = counts.get(link.department_id, 0)
    DepartmentLink.objects.bulk_update(list(links.values()), ["member_count"])
