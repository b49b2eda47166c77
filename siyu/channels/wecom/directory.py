"""The WeCom address book (通讯录) brought into the organisation: department/list and user/list fetched first (no
database transaction open), then applied by org.directory in one short transaction (departments kept with their
mapping, new members placed by it, members gone from WeCom marked as left)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from siyu.channels.wecom.accounts import upstream_error, wecom_account
from siyu.channels.wecom.client import WecomClient, WecomError
from siyu.channels.wecom.provider import client_for
from siyu.core.audit import Actor
from siyu.core.errors import PermissionDenied
from siyu.org.directory import Department, DirectoryResult, Member, apply_directory
from siyu.org.scope import Scope

ROOT_DEPARTMENT = 1


def _int(raw: Any, default: int = 0) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError):
        return default


def fetch_directory(client: WecomClient) -> tuple[list[Department], list[Member]]:
    """The whole tree under the root and every member in it (one department/list and one user/list call)."""
    data = client.call("GET", "/cgi-bin/department/list", params={"id": ROOT_DEPARTMENT})
    departments = [
        Department(id=_int(d.get("id")), name=str(d.get("name") or d.get("id")), parent_id=_int(d.get("parentid")))
        for d in data.get("department") or () if isinstance(d, dict) and _int(d.get("id")) > 0
    ]
    users = client.call("GET", "/cgi-bin/user/list", params={"department_id": ROOT_DEPARTMENT, "fetch_child": 1})
    members: dict[str, Member] = {}
    for raw in users.get("userlist") or ():
        if not isinstance(raw, dict) or not raw.get("userid"):
            continue
        depts = [_int(d) for d in raw.get("department") or ()]
        main = _int(raw.get("main_department")) or (depts[0] if depts else ROOT_DEPARTMENT)
        members[str(raw["userid"])] = Member(userid=str(raw["userid"]), name=str(raw.get("name") or ""),
                                             main_department=main, mobile=str(raw.get("mobile") or ""),
                                             status=_int(raw.get("status"), 1))
    return departments, list(members.values())


def sync_directory(*, scope: Scope, account_id: int, actor: Actor = None) -> DirectoryResult:
    """HQ pulls the corp's departments and members; see org.directory for what is applied."""
    if not scope.is_hq:
        raise PermissionDenied(_("only HQ admins sync the WeCom address book"))
    account = wecom_account(account_id, enterprise_id=scope.enterprise_id)
    try:
        departments, members = fetch_directory(client_for(account))
    except WecomError as exc:
        raise upstream_error(exc) from exc
    return apply_directory(enterprise_id=scope.enterprise_id, account_id=account.pk, departments=departments,
                           members=members, actor=actor)
