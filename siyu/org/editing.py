"""Writes to the organisation: regions, stores and staff created and edited by HQ (and, for their own team, by
store and region managers), staff marked as left, roles changed, console passwords set. Every write is audited.

Who may do what:
- regions and stores: HQ admins only;
- staff: HQ admins anywhere with any role; a region or store manager only inside their scope (queries.staff), only
  as store staff of a store they see (they may not grant a manager role, nor move someone out of their team);
- marking someone as left and setting a console password: HQ admins only.

Bad input raises ValidationFailed naming the field; nothing is half-written (one transaction per call).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from datetime import date
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_

from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import NotFound, PermissionDenied, ValidationFailed
from siyu.core.timeutil import now
from siyu.org import queries
from siyu.org.models import DepartmentLink, OpeningState, Region, Role, Staff, Store
from siyu.org.scope import Scope

CODE_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
USERID_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
USERNAME_RE = re.compile(r"^[\w.@+-]{3,150}$")
STORE_ROLES = (Role.STORE_MANAGER, Role.STORE_STAFF)


def require_hq(scope: Scope, what: str = "the organisation") -> None:
    if not scope.is_hq:
        raise PermissionDenied(_("only HQ admins change %(what)s") % {"what": what})


def require_team_editor(scope: Scope) -> None:
    if not scope.is_manager:
        raise PermissionDenied(_("only HQ and managers edit staff"))


# ---------------------------------------------------------------------------------------------------------------
# Field checks shared with the sheet import


def clean_text(value: str, *, field: str, label: str, max_length: int, required: bool = True) -> str:
    text = " ".join(str(value or "").split())
    if required and not text:
        raise ValidationFailed(_("%(label)s is required") % {"label": label}, field=field, code="required")
    if len(text) > max_length:
        raise ValidationFailed(
            _("%(label)s is at most %(max_length)s characters") % {"label": label, "max_length": max_length},
            field=field,
            code="too_long",
        )
    return text


def clean_code(value: str, *, field: str = "code") -> str:
    code = str(value or "").strip()
    if not code:
        raise ValidationFailed(_("code is required"), field=field, code="required")
    if not CODE_RE.match(code):
        raise ValidationFailed(_("code is 1-64 letters, digits, _ or -"), field=field, code="code_format")
    return code


def clean_userid(value: str, *, required: bool = False) -> str:
    userid = str(value or "").strip()
    if not userid:
        if required:
            raise ValidationFailed(_("WeCom userid is required"), field="wecom_userid", code="required")
        return ""
    if not USERID_RE.match(userid):
        raise ValidationFailed(_("WeCom userid is 1-64 letters, digits, _ . @ or -"), field="wecom_userid",
                               code="wecom_userid_format")
    return userid


def clean_mobile(value: str) -> str:
    mobile = re.sub(r"[\s-]", "", str(value or ""))
    if mobile.startswith("+86"):
        mobile = mobile[3:]
    if mobile and not MOBILE_RE.match(mobile):
        raise ValidationFailed(_("mobile is an 11-digit mainland number"), field="mobile",
                               code="mobile_format")
    return mobile


def clean_role(value: str) -> str:
    if value not in Role.values:
        raise ValidationFailed(_("role is one of %(join)s") % {"join": ', '.join(Role.values)}, field="role",
                               code="unknown_role")
    return value


def clean_opening_state(value: str) -> str:
    if value not in OpeningState.values:
        raise ValidationFailed(
            _("opening state is one of %(join)s") % {"join": ', '.join(OpeningState.values)},
            field="opening_state",
            code="unknown_opening_state",
        )
    return value


# ---------------------------------------------------------------------------------------------------------------
# Regions


@dataclass(frozen=True)
class RegionInput:
    name: str
    code: str


def _region_input(data: RegionInput) -> RegionInput:
    return RegionInput(name=clean_text(data.name, field="name", label="name", max_length=120),
                       code=clean_code(data.code))


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {key: [str(before.get(key)), str(value)] for key, value in after.items() if before.get(key) != value}


def _save_unique(obj: Any, *, field: str, message: str) -> None:
    """Save; a unique constraint that fires (a concurrent create with the same code) reads as a field error."""
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError as exc:
        raise ValidationFailed(message, field=field, code="duplicate") from exc


@transaction.atomic
def create_region(*, scope: Scope, data: RegionInput, actor: Actor = None) -> Region:
    require_hq(scope, "regions")
    data = _region_input(data)
    if Region.objects.filter(enterprise_id=scope.enterprise_id, code=data.code).exists():
        raise ValidationFailed(_("a region with this code exists"), field="code", code="duplicate")
    region = Region(enterprise_id=scope.enterprise_id, name=data.name, code=data.code)
    _save_unique(region, field="code", message="a region with this code exists")
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="region.create", target_type="region",
                 target_id=region.pk, summary=f"{region.name} ({region.code})")
    return region


@transaction.atomic
def update_region(*, scope: Scope, region_id: int, data: RegionInput, actor: Actor = None) -> Region:
    require_hq(scope, "regions")
    data = _region_input(data)
    region = queries.regions(scope).select_for_update().filter(pk=region_id).first()
    if region is None:
        raise NotFound(_("region %(region_id)s not found") % {"region_id": region_id}, field="region_id")
    if Region.objects.filter(enterprise_id=scope.enterprise_id, code=data.code).exclude(pk=region.pk).exists():
        raise ValidationFailed(_("a region with this code exists"), field="code", code="duplicate")
    changes = _changes({"name": region.name, "code": region.code}, {"name": data.name, "code": data.code})
    if changes:
        region.name, region.code = data.name, data.code
        _save_unique(region, field="code", message="a region with this code exists")
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="region.update", target_type="region",
                     target_id=region.pk, summary=f"{region.name} ({region.code})", changes=changes)
    return region


# ---------------------------------------------------------------------------------------------------------------
# Stores


@dataclass(frozen=True)
class StoreInput:
    name: str
    code: str
    region_id: int
    city: str = ""
    address: str = ""
    opening_state: str = OpeningState.OPEN
    opened_on: date | None = None


def _store_input(data: StoreInput) -> StoreInput:
    return replace(
        data,
        name=clean_text(data.name, field="name", label="name", max_length=120),
        code=clean_code(data.code),
        city=clean_text(data.city, field="city", label="city", max_length=64, required=False),
        address=clean_text(data.address, field="address", label="address", max_length=255, required=False),
        opening_state=clean_opening_state(data.opening_state),
    )


def _store_region(scope: Scope, region_id: int) -> Region:
    region = Region.objects.filter(enterprise_id=scope.enterprise_id, pk=region_id).first()
    if region is None:
        raise ValidationFailed(_("choose one of your regions"), field="region_id", code="not_found")
    return region


def _store_values(store: Store) -> dict[str, Any]:
    return {f.name: getattr(store, f.name) for f in fields(StoreInput)}


@transaction.atomic
def create_store(*, scope: Scope, data: StoreInput, actor: Actor = None) -> Store:
    require_hq(scope, "stores")
    data = _store_input(data)
    region = _store_region(scope, data.region_id)
    if Store.objects.filter(enterprise_id=scope.enterprise_id, code=data.code).exists():
        raise ValidationFailed(_("a store with this code exists"), field="code", code="duplicate")
    store = Store(enterprise_id=scope.enterprise_id, region=region, name=data.name, code=data.code, city=data.city,
                  address=data.address, opening_state=data.opening_state, opened_on=data.opened_on,
                  is_active=data.opening_state != OpeningState.CLOSED)
    _save_unique(store, field="code", message="a store with this code exists")
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="store.create", target_type="store",
                 target_id=store.pk, summary=f"{store.name} ({store.code}), {region.name}")
    return store


@transaction.atomic
def update_store(*, scope: Scope, store_id: int, data: StoreInput, actor: Actor = None) -> Store:
    require_hq(scope, "stores")
    data = _store_input(data)
    store = queries.stores(scope).select_for_update(of=("self",)).filter(pk=store_id).first()
    if store is None:
        raise NotFound(_("store %(store_id)s not found") % {"store_id": store_id}, field="store_id")
    _store_region(scope, data.region_id)
    if Store.objects.filter(enterprise_id=scope.enterprise_id, code=data.code).exclude(pk=store.pk).exists():
        raise ValidationFailed(_("a store with this code exists"), field="code", code="duplicate")
    after = {f.name: getattr(data, f.name) for f in fields(StoreInput)}
    changes = _changes(_store_values(store), after)
    if changes:
        for key, value in after.items():
            setattr(store, key, value)
        store.is_active = data.opening_state != OpeningState.CLOSED
        _save_unique(store, field="code", message="a store with this code exists")
        # Staff follow their store into its new region.
        Staff.objects.filter(store_id=store.pk).exclude(region_id=store.region_id).update(region_id=store.region_id)
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="store.update", target_type="store",
                     target_id=store.pk, summary=f"{store.name} ({store.code})", changes=changes)
    return store


# ---------------------------------------------------------------------------------------------------------------
# Staff


@dataclass(frozen=True)
class StaffInput:
    name: str
    role: str = Role.STORE_STAFF
    wecom_userid: str = ""
    mobile: str = ""
    store_id: int | None = None
    region_id: int | None = None


def _staff_input(data: StaffInput) -> StaffInput:
    return replace(
        data,
        name=clean_text(data.name, field="name", label="name", max_length=64),
        role=clean_role(data.role),
        wecom_userid=clean_userid(data.wecom_userid),
        mobile=clean_mobile(data.mobile),
    )


def _placement(scope: Scope, data: StaffInput) -> tuple[int | None, int | None]:
    """(store_id, region_id) for the role: store roles need a store (their region follows it), region managers a
    region, HQ admins neither. Managers may only place people in stores they see."""
    if data.role in STORE_ROLES:
        if data.store_id is None:
            raise ValidationFailed(_("store roles need a store"), field="store_id", code="required")
        lookup = queries.stores(scope) if not scope.is_hq else queries.stores(Scope.hq(scope.enterprise_id))
        store = lookup.filter(pk=data.store_id).first()
        if store is None:
            raise ValidationFailed(_("choose one of your stores"), field="store_id", code="not_found")
        return store.pk, store.region_id
    if data.role == Role.REGION_MANAGER:
        if data.region_id is None:
            raise ValidationFailed(_("a region manager needs a region"), field="region_id", code="required")
        region = Region.objects.filter(enterprise_id=scope.enterprise_id, pk=data.region_id).first()
        if region is None:
            raise ValidationFailed(_("choose one of your regions"), field="region_id", code="not_found")
        return None, region.pk
    return None, None


def _check_grant(scope: Scope, role: str) -> None:
    if not scope.is_hq and role != Role.STORE_STAFF:
        raise PermissionDenied(_("only HQ admins give manager or admin roles"))


def _check_userid_free(scope: Scope, userid: str, *, exclude: int | None = None) -> None:
    if not userid:
        return
    taken = Staff.objects.filter(enterprise_id=scope.enterprise_id, wecom_userid=userid)
    if exclude is not None:
        taken = taken.exclude(pk=exclude)
    if taken.exists():
        raise ValidationFailed(_("another staff member has this WeCom userid"), field="wecom_userid", code="duplicate")


def _staff_values(staff: Staff) -> dict[str, Any]:
    return {"name": staff.name, "role": staff.role, "wecom_userid": staff.wecom_userid, "mobile": staff.mobile,
            "store_id": staff.store_id, "region_id": staff.region_id}


@transaction.atomic
def create_staff(*, scope: Scope, data: StaffInput, actor: Actor = None) -> Staff:
    require_team_editor(scope)
    data = _staff_input(data)
    _check_grant(scope, data.role)
    store_id, region_id = _placement(scope, data)
    _check_userid_free(scope, data.wecom_userid)
    staff = Staff(enterprise_id=scope.enterprise_id, name=data.name, role=data.role, wecom_userid=data.wecom_userid,
                  mobile=data.mobile, store_id=store_id, region_id=region_id)
    _save_unique(staff, field="wecom_userid", message="another staff member has this WeCom userid")
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="staff.create", target_type="staff",
                 target_id=staff.pk, summary=audit.text(N_("%(name)s (%(role)s)"), name=staff.name,
                                    role=audit.label(Role(staff.role).label)))
    return staff


def _locked_staff(scope: Scope, staff_id: int) -> Staff:
    staff = queries.staff(scope).select_for_update(of=("self",)).filter(pk=staff_id).first()
    if staff is None:
        raise NotFound(_("staff %(staff_id)s not found") % {"staff_id": staff_id}, field="staff_id")
    return staff


@transaction.atomic
def update_staff(*, scope: Scope, staff_id: int, data: StaffInput, actor: Actor = None) -> Staff:
    """Edit a staff member; a change of role is audited as its own entry (staff.role) beside the edit."""
    require_team_editor(scope)
    data = _staff_input(data)
    staff = _locked_staff(scope, staff_id)
    if not scope.is_hq and (staff.role != Role.STORE_STAFF or staff.pk == scope.staff_id):
        raise PermissionDenied(_("managers edit the store staff of their team, not managers nor themselves"))
    _check_grant(scope, data.role)
    store_id, region_id = _placement(scope, data)
    _check_userid_free(scope, data.wecom_userid, exclude=staff.pk)
    before = _staff_values(staff)
    after = {**{f.name: getattr(data, f.name) for f in fields(StaffInput)}, "store_id": store_id,
             "region_id": region_id}
    changes = _changes(before, after)
    if not changes:
        return staff
    for key, value in after.items():
        setattr(staff, key, value)
    _save_unique(staff, field="wecom_userid", message="another staff member has this WeCom userid")
    if "role" in changes:
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="staff.role", target_type="staff",
                     target_id=staff.pk,
                     summary=audit.text(
                         N_("%(name)s: %(before)s → %(after)s"), name=staff.name,
                         before=audit.label(Role(before["role"]).label),
                         after=audit.label(Role(staff.role).label)),
                     changes={"role": changes["role"]})
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="staff.update", target_type="staff",
                 target_id=staff.pk, summary=staff.name, changes=changes)
    return staff


def _deactivate(staff: Staff) -> None:
    staff.is_active = False
    staff.left_at = now()
    staff.save(update_fields=["is_active", "left_at"])
    if staff.user_id is not None:
        get_user_model().objects.filter(pk=staff.user_id).update(is_active=False)


@transaction.atomic
def mark_staff_left(*, scope: Scope, staff_id: int, actor: Actor = None, reason: str = "") -> Staff:
    """HQ marks a staff member as left: they can no longer sign in, and resigned-staff inheritance (离职继承) offers
    their customers to a successor. Marking someone already gone again changes nothing."""
    require_hq(scope, "who has left")
    staff = _locked_staff(scope, staff_id)
    if staff.pk == scope.staff_id:
        raise ValidationFailed(_("you cannot mark yourself as left"), field="staff_id",
                               code="cannot_leave_self")
    if not staff.is_active:
        return staff
    reason = clean_text(reason, field="reason", label="reason", max_length=200, required=False)
    _deactivate(staff)
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="staff.left", target_type="staff",
                 target_id=staff.pk, summary=f"{staff.name}" + (f": {reason}" if reason else ""),
                 changes={"is_active": ["True", "False"]})
    return staff


@transaction.atomic
def set_staff_password(*, scope: Scope, staff_id: int, username: str, password: str, actor: Actor = None) -> Staff:
    """HQ sets (or resets) a staff member's console sign-in. Only the hash is stored (Django's password hashers);
    the audit row records that it changed, never the password."""
    require_hq(scope, "sign-ins")
    staff = _locked_staff(scope, staff_id)
    if not staff.is_active:
        raise ValidationFailed(_("this staff member has left"), field="staff_id", code="inactive_staff")
    username = username.strip()
    if not USERNAME_RE.match(username):
        raise ValidationFailed(_("sign-in name is 3-150 letters, digits or @.+-_"), field="username",
                               code="sign_name_format")
    users = get_user_model().objects
    if users.filter(username__iexact=username).exclude(pk=staff.user_id or 0).exists():
        # Usernames are global across enterprises: say only that it is taken.
        raise ValidationFailed(_("this sign-in name is taken"), field="username", code="duplicate")
    user = users.filter(pk=staff.user_id).first() if staff.user_id else None
    if user is None:
        user = users.model(username=username)
    user.username = username
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        raise ValidationFailed(" ".join(exc.messages), field="password", code="weak_password") from exc
    user.set_password(password)
    user.is_active = True
    user.save()
    if staff.user_id != user.pk:
        staff.user = user
        staff.save(update_fields=["user"])
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="staff.password", target_type="staff",
                 target_id=staff.pk,
                 summary=audit.text(
                     N_("%(name)s: sign-in %(username)s"), name=staff.name,
                     username=username))
    return staff


@transaction.atomic
def user_for_staff(*, staff_id: int) -> Any:
    """The console user a staff member signs in as (WeCom sign-in), created without a password when missing."""
    staff = Staff.objects.select_for_update(of=("self",)).select_related("user").get(pk=staff_id)
    if not staff.is_active:
        raise PermissionDenied(_("this staff account is no longer active"))
    if staff.user is not None:
        return staff.user
    users = get_user_model().objects
    user = users.create(username=f"wecom.{staff.enterprise_id}.{staff.wecom_userid or staff.pk}"[:150])
    user.set_unusable_password()
    user.save(update_fields=["password"])
    staff.user = user
    staff.save(update_fields=["user"])
    return user


# ---------------------------------------------------------------------------------------------------------------
# WeCom department mapping (the sync itself is channels.wecom.directory: it fetches, then calls apply_directory)


@transaction.atomic
def map_department(
    *, scope: Scope, link_id: int, store_id: int | None = None, region_id: int | None = None, actor: Actor = None
) -> DepartmentLink:
    """Place a WeCom department's members in a store or a region (or nowhere: both None). Applied at the next sync
    to the department's new members and to members who move into it."""
    require_hq(scope, "the WeCom department mapping")
    if store_id is not None and region_id is not None:
        raise ValidationFailed(_("map a department to a store or to a region, not both"), field="store_id",
                               code="store_and_region")
    link = DepartmentLink.objects.select_for_update().filter(enterprise_id=scope.enterprise_id, pk=link_id).first()
    if link is None:
        raise NotFound(_("department %(link_id)s not found") % {"link_id": link_id}, field="department_id")
    if store_id is not None and not Store.objects.filter(enterprise_id=scope.enterprise_id, pk=store_id).exists():
        raise ValidationFailed(_("choose one of your stores"), field="store_id", code="not_found")
    if region_id is not None and not Region.objects.filter(enterprise_id=scope.enterprise_id, pk=region_id).exists():
        raise ValidationFailed(_("choose one of your regions"), field="region_id", code="not_found")
    changes = _changes({"store_id": link.store_id, "region_id": link.region_id},
                       {"store_id": store_id, "region_id": region_id})
    if changes:
        link.store_id, link.region_id = store_id, region_id
        link.save(update_fields=["store", "region"])
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="org.department_map",
                     target_type="department", target_id=link.department_id, summary=link.name, changes=changes)
    return link
