"""The first enterprise and its first HQ administrator, for a fresh install (`siyu setup` and the console wizard in
siyu.setup, which guards the once-only part). Kept apart from services.py: nothing else creates enterprises."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_

from siyu.core import audit
from siyu.core.errors import Conflict, ValidationFailed
from siyu.org.models import Enterprise, Role, Staff

USERNAME = re.compile(r"^[\w.@+-]{3,150}$")
CODE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$")


@dataclass(frozen=True)
class FirstAdmin:
    enterprise_id: int
    enterprise_code: str
    staff_id: int
    user_id: int
    username: str


def any_enterprise() -> bool:
    return Enterprise.objects.exists()


def clean_code(code: str) -> str:
    """The enterprise code (a slug) as given; checked, not changed."""
    code = code.strip()
    if not CODE.match(code):
        raise ValidationFailed(_("the code is 3-64 lowercase letters, digits or dashes"), field="enterprise_code",
                               code="code_format")
    return code


def _derived_code(name: str) -> str:
    """A free code from the name: its slug, or `brand` for a name with too few Latin letters (某某品牌), with -2, -3...
    when taken."""
    base = slugify(name)[:56].strip("-")
    base = base if CODE.match(base) else "brand"
    taken = set(Enterprise.objects.filter(code__startswith=base).values_list("code", flat=True))
    return next(c for c in (base, *(f"{base}-{n}" for n in range(2, 10_000))) if c not in taken)


def check_admin(*, name: str, username: str, password: str, admin_name: str) -> None:
    """Field-level checks before anything is written."""
    if not name.strip() or len(name.strip()) > 120:
        raise ValidationFailed(_("the enterprise name is 1-120 characters"), field="enterprise_name",
                               code="enterprise_name_length")
    if not admin_name.strip() or len(admin_name.strip()) > 64:
        raise ValidationFailed(_("the administrator's name is 1-64 characters"), field="admin_name",
                               code="admin_name_length")
    if not USERNAME.match(username):
        raise ValidationFailed(_("the username is 3-150 letters, digits or . @ + - _"), field="admin_username",
                               code="username_format")
    user = get_user_model()(username=username)
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise ValidationFailed(" ".join(str(m) for m in exc.messages), field="admin_password",
                               code="weak_password") from exc


@transaction.atomic
def create_enterprise_with_admin(
    *, name: str, code: str = "", admin_username: str, admin_password: str, admin_name: str = "", source: str
) -> FirstAdmin:
    """Create an enterprise and its HQ administrator (a console user linked to an HQ staff record). The caller
    decides whether another enterprise may exist; this only refuses a username or code already taken."""
    admin_name = admin_name.strip() or admin_username
    check_admin(name=name, username=admin_username, password=admin_password, admin_name=admin_name)
    code = clean_code(code) if code.strip() else _derived_code(name)
    user_model = get_user_model()
    if user_model.objects.filter(username__iexact=admin_username).exists():
        raise Conflict(_("this username is taken"), field="admin_username", code="username_taken")
    if Enterprise.objects.filter(code=code).exists():
        raise Conflict(_("this enterprise code is taken"), field="enterprise_code", code="code_taken")
    enterprise = Enterprise.objects.create(name=name.strip(), code=code)
    user = user_model.objects.create_user(username=admin_username, password=admin_password)
    staff = Staff.objects.create(enterprise=enterprise, user=user, name=admin_name[:64], role=Role.HQ_ADMIN)
    audit.record(enterprise_id=enterprise.pk, actor=None, action="enterprise.setup", target_type="enterprise",
                 target_id=enterprise.pk,
                 summary=audit.text(
                     N_("%(enterprise)s: first administrator %(username)s (%(source)s)"),
                     enterprise=enterprise.name, username=admin_username, source=source))
    return FirstAdmin(enterprise_id=enterprise.pk, enterprise_code=code, staff_id=staff.pk, user_id=user.pk,
                      username=admin_username)
