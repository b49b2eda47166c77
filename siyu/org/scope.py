"""Data scoping: staff see their own customers, store managers their store, region managers their region, HQ all.

Every read in queries.py takes a Scope; there is no "unscoped" default.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.utils.translation import gettext_lazy as _

from siyu.core.errors import PermissionDenied
from siyu.org.models import Enterprise, Role, Staff


@dataclass(frozen=True)
class Scope:
    enterprise_id: int
    role: str
    staff_id: int | None = None
    store_ids: frozenset[int] = field(default_factory=frozenset)
    region_ids: frozenset[int] = field(default_factory=frozenset)
    label: str = ""

    @property
    def is_hq(self) -> bool:
        return self.role == Role.HQ_ADMIN

    @property
    def is_manager(self) -> bool:
        """HQ or a region/store manager: the roles that may merge customers and manage their team's data."""
        return self.role in (Role.HQ_ADMIN, Role.REGION_MANAGER, Role.STORE_MANAGER)

    @classmethod
    def hq(cls, enterprise_id: int, label: str = "system") -> Scope:
        return cls(enterprise_id=enterprise_id, role=Role.HQ_ADMIN, label=label)


def scope_for_staff(staff: Staff) -> Scope:
    if not staff.is_active:
        raise PermissionDenied(_("this staff account is no longer active"))
    role = staff.role
    if role == Role.REGION_MANAGER and staff.region_id is None:
        raise PermissionDenied(_("a region manager needs a region"))
    if role in (Role.STORE_MANAGER, Role.STORE_STAFF) and staff.store_id is None:
        raise PermissionDenied(_("store roles need a store"))
    return Scope(
        enterprise_id=staff.enterprise_id,
        role=role,
        staff_id=staff.pk,
        store_ids=frozenset([staff.store_id]) if staff.store_id else frozenset(),
        region_ids=frozenset([staff.region_id]) if staff.region_id else frozenset(),
        label=staff.name,
    )


def scope_for_user(user: AbstractBaseUser | AnonymousUser) -> Scope:
    """A console user's scope: their staff record's, or HQ for a superuser with none."""
    if not user.is_authenticated:
        raise PermissionDenied(_("sign in first"))
    staff = Staff.objects.filter(user_id=user.pk).first()
    if staff is not None:
        return scope_for_staff(staff)
    if getattr(user, "is_superuser", False):
        enterprise = Enterprise.objects.order_by("id").first()
        if enterprise is None:
            raise PermissionDenied(_("no enterprise has been set up yet"))
        return Scope.hq(enterprise.pk, label=user.get_username())
    raise PermissionDenied(_("this account is not linked to a staff member"))
