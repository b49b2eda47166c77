from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.core.errors import NotFound, PermissionDenied
from siyu.org.models import (
    ApiToken,
    DepartmentLink,
    Enterprise,
    LoginFailure,
    OpeningState,
    Region,
    Role,
    Staff,
    Store,
)
from siyu.org.scope import Scope


def stores(scope: Scope) -> QuerySet[Store]:
    qs = Store.objects.filter(enterprise_id=scope.enterprise_id).select_related("region")
    if scope.is_hq:
        return qs
    if scope.role == Role.REGION_MANAGER:
        return qs.filter(region_id__in=scope.region_ids)
    return qs.filter(id__in=scope.store_ids)


def regions(scope: Scope) -> QuerySet[Region]:
    qs = Region.objects.filter(enterprise_id=scope.enterprise_id)
    if scope.is_hq:
        return qs
    if scope.role == Role.REGION_MANAGER:
        return qs.filter(id__in=scope.region_ids)
    return qs.filter(stores__id__in=scope.store_ids).distinct()


def staff(scope: Scope) -> QuerySet[Staff]:
    qs = Staff.objects.filter(enterprise_id=scope.enterprise_id).select_related("store", "region")
    if scope.is_hq:
        return qs
    if scope.role == Role.REGION_MANAGER:
        return qs.filter(Q(region_id__in=scope.region_ids) | Q(store__region_id__in=scope.region_ids))
    if scope.role == Role.STORE_MANAGER:
        return qs.filter(store_id__in=scope.store_ids)
    return qs.filter(id=scope.staff_id or 0)


def visible_staff_ids(scope: Scope) -> QuerySet[Staff]:
    return staff(scope).values_list("id", flat=True)  # type: ignore[return-value]


def regions_with_counts(scope: Scope) -> QuerySet[Region]:
    return regions(scope).annotate(store_count=Count("stores", distinct=True)).order_by("code")


def stores_with_counts(scope: Scope) -> QuerySet[Store]:
    return stores(scope).annotate(staff_count=Count("staff", distinct=True)).order_by("region__code", "code")


def get_staff(scope: Scope, staff_id: int) -> Staff:
    found = staff(scope).filter(id=staff_id).first()
    if found is None:
        raise NotFound(_("staff %(staff_id)s not found") % {"staff_id": staff_id}, field="staff_id")
    return found


def get_store(scope: Scope, store_id: int) -> Store:
    found = stores(scope).filter(id=store_id).first()
    if found is None:
        raise NotFound(_("store %(store_id)s not found") % {"store_id": store_id}, field="store_id")
    return found


def enterprise(scope: Scope) -> Enterprise:
    return Enterprise.objects.get(id=scope.enterprise_id)


def acting_user(scope: Scope) -> AbstractBaseUser | None:
    """The login behind a scope (its staff member's user), so audit rows written for an API token name a person."""
    if scope.staff_id is None:
        return None
    found = Staff.objects.filter(pk=scope.staff_id, enterprise_id=scope.enterprise_id).select_related("user").first()
    return found.user if found is not None else None


# The choices API schemas and console forms validate against (they may not import models).
Roles = Role


def api_tokens(scope: Scope) -> QuerySet[ApiToken]:
    """The enterprise's API tokens, newest first (HQ only: a token acts with its staff member's scope)."""
    if not scope.is_hq:
        raise PermissionDenied(_("API tokens are managed by HQ admins"))
    return (
        ApiToken.objects.filter(staff__enterprise_id=scope.enterprise_id)
        .select_related("staff", "staff__store", "staff__region")
        .order_by("-created_at", "-id")
    )


def get_api_token(scope: Scope, token_id: int) -> ApiToken:
    found = api_tokens(scope).filter(pk=token_id).first()
    if found is None:
        raise NotFound(_("API token %(token_id)s not found") % {"token_id": token_id}, field="token_id")
    return found


def login_username(username: str) -> str:
    """Failures count against the name as the user would read it: `HQ `, `hq` and ` Hq` are one account."""
    return username.strip().casefold()[:150]


def login_retry_at(*, username: str, ip: str, now: datetime | None = None) -> datetime | None:
    """When a sign-in for this username from this address may be tried again, or None when it may be tried now.

    Locked while the username, or the address, has SIYU_LOGIN_MAX_FAILURES failures inside the window; the lock
    lifts when the oldest of the newest LIMIT failures leaves the window."""
    moment = now or timezone.now()
    window = timedelta(seconds=settings.SIYU_LOGIN_WINDOW_S)
    limit = settings.SIYU_LOGIN_MAX_FAILURES
    recent = LoginFailure.objects.filter(at__gt=moment - window).order_by("-at")
    times = [
        next(iter(recent.filter(**match).values_list("at", flat=True)[limit - 1 : limit]), None)
        for match in ({"username": login_username(username)}, {"ip": ip})
    ]
    locked = [at + window for at in times if at is not None]
    return max(locked) if locked else None


# ---------------------------------------------------------------------------------------------------------------
# Lists with search for the organisation pages and API


def _words(q: str) -> list[str]:
    return [word for word in q.split()[:5] if word][:5]


def search_regions(scope: Scope, q: str = "") -> QuerySet[Region]:
    qs = regions_with_counts(scope)
    for word in _words(q):
        qs = qs.filter(Q(name__icontains=word) | Q(code__icontains=word))
    return qs


def search_stores(scope: Scope, q: str = "", *, region_id: int | None = None, state: str = "") -> QuerySet[Store]:
    qs = stores_with_counts(scope)
    for word in _words(q):
        qs = qs.filter(Q(name__icontains=word) | Q(code__icontains=word) | Q(city__icontains=word)
                       | Q(address__icontains=word))
    if region_id is not None:
        qs = qs.filter(region_id=region_id)
    if state:
        qs = qs.filter(opening_state=state)
    return qs


def search_staff(
    scope: Scope, q: str = "", *, store_id: int | None = None, role: str = "", active: bool | None = None
) -> QuerySet[Staff]:
    qs = staff(scope).select_related("user")
    for word in _words(q):
        qs = qs.filter(Q(name__icontains=word) | Q(wecom_userid__icontains=word) | Q(mobile__icontains=word))
    if store_id is not None:
        qs = qs.filter(store_id=store_id)
    if role:
        qs = qs.filter(role=role)
    if active is not None:
        qs = qs.filter(is_active=active)
    return qs.order_by("store__code", "role", "name", "id")


def get_region(scope: Scope, region_id: int) -> Region:
    found = regions(scope).filter(id=region_id).first()
    if found is None:
        raise NotFound(_("region %(region_id)s not found") % {"region_id": region_id}, field="region_id")
    return found


def department_links(scope: Scope, account_id: int | None = None) -> QuerySet[DepartmentLink]:
    """The WeCom departments seen by directory syncs, with their mapping (HQ only: the mapping places staff)."""
    if not scope.is_hq:
        raise PermissionDenied(_("the WeCom department mapping is managed by HQ admins"))
    qs = DepartmentLink.objects.filter(enterprise_id=scope.enterprise_id).select_related("region", "store")
    if account_id is not None:
        qs = qs.filter(account_id=account_id)
    return qs.order_by("account_id", "parent_id", "department_id")


def get_department_link(scope: Scope, link_id: int) -> DepartmentLink:
    found = department_links(scope).filter(pk=link_id).first()
    if found is None:
        raise NotFound(_("department %(link_id)s not found") % {"link_id": link_id}, field="department_id")
    return found


def staff_by_wecom_userid(enterprise_id: int, userid: str) -> Staff | None:
    """The staff member a WeCom identity names (sign-in); None for nobody."""
    if not userid:
        return None
    return Staff.objects.filter(enterprise_id=enterprise_id, wecom_userid=userid).first()


OpeningStates = OpeningState
