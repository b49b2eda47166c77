"""Group inheritance (离职继承 of customer groups): the groups a resigned staff member owns go to another through
`groupchat/transfer`, in batches of ≤100 through the outbox. The platform refuses some groups (the owner has not
resigned: 90500, a full group with 99 WeChat members that needs confirming in the client: 90503, …); each refusal is
kept on its item with the errcode and a readable reason, and shown. Siyu does not pre-judge resignation: the platform
decides, so a refusal is what the operator sees."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_

from siyu.channels.wecom.accounts import wecom_account
from siyu.channels.wecom.client import WecomError
from siyu.channels.wecom.models import (
    CustomerGroup,
    GroupStatus,
    GroupTransfer,
    GroupTransferItem,
    GroupTransferItemStatus,
    GroupTransferStatus,
    OutboundCall,
)
from siyu.channels.wecom.outbox import REF, enqueue_call, on_failure, on_success
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import NotFound, ValidationFailed
from siyu.core.timeutil import now
from siyu.org import queries as org_queries
from siyu.org.scope import Scope

BATCH = 100
REASONS = {
    90500: "the owner has not resigned (use in-service transfer)",
    90501: "not a customer group",
    90502: "the owner has already resigned",
    90503: "the group is full with 99 WeChat members: confirm the transfer in the WeCom client first",
    90504: "the new owner already owns this group",
    90507: "inheritance of this group is already in progress",
    90508: "this group was already inherited",
    90509: "not a WeCom customer group",
    90510: "the corp has had no active users for a year",
}


def reason_of(errcode: int, errmsg: str = "") -> str:
    return REASONS.get(errcode, errmsg or f"refused by WeCom ({errcode})")[:255]


@transaction.atomic
def create_group_transfer(
    *, scope: Scope, account_id: int, handover_id: int, takeover_id: int, actor: Actor = None
) -> GroupTransfer:
    account = wecom_account(account_id, enterprise_id=scope.enterprise_id)
    visible = org_queries.staff(scope)
    handover = visible.filter(pk=handover_id).first()
    if handover is None:
        raise NotFound(_("staff %(handover_id)s not found") % {"handover_id": handover_id}, field="handover_id")
    takeover = visible.filter(pk=takeover_id).first()
    if takeover is None:
        raise NotFound(_("staff %(takeover_id)s not found") % {"takeover_id": takeover_id}, field="takeover_id")
    if takeover.pk == handover.pk:
        raise ValidationFailed(_("the new owner is the one handing over"), field="takeover_id", code="same_staff")
    if not takeover.is_active or not takeover.wecom_userid:
        raise ValidationFailed(_("%(name)s has no active WeCom account") % {"name": takeover.name}, field="takeover_id",
                               code="no_active_wecom_account")
    groups = list(CustomerGroup.objects.filter(account=account, owner=handover, status=GroupStatus.ACTIVE)
                  .order_by("id"))
    if not groups:
        raise ValidationFailed(
            _("%(name)s owns no customer group of this corp") % {"name": handover.name},
            field="handover_id", code="no_groups",
        )
    job = GroupTransfer.objects.create(enterprise_id=scope.enterprise_id, account=account, handover=handover,
                                       takeover=takeover, created_by=audit.user_of(actor))
    GroupTransferItem.objects.bulk_create([GroupTransferItem(transfer=job, group=g) for g in groups])
    for start in range(0, len(groups), BATCH):
        batch = groups[start : start + BATCH]
        enqueue_call(
            account=account,
            method="transfer_group_chats",
            payload={"chat_ids": [g.chat_id for g in batch], "new_owner": takeover.wecom_userid,
                     REF: {"group_transfer_id": job.pk}},
            key=f"transfer_group_chats:{job.pk}:{start // BATCH}",
        )
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="wecom.group_transfer.create",
                 target_type="group_transfer", target_id=job.pk,
                 summary=audit.ntext(
                     N_("%(from)s → %(to)s: %(count)s group"),
                     N_("%(from)s → %(to)s: %(count)s groups"),
                     len(groups), **{"from": handover.name, "to": takeover.name}))
    return job


def _finish(job_id: int) -> None:
    if not GroupTransferItem.objects.filter(transfer_id=job_id, status=GroupTransferItemStatus.PENDING).exists():
        GroupTransfer.objects.filter(pk=job_id, finished_at__isnull=True).update(
            status=GroupTransferStatus.DONE, finished_at=now())


@on_success("transfer_group_chats")
def _transferred(call: OutboundCall, result: dict[str, Any]) -> None:
    job_id = call.payload.get(REF, {}).get("group_transfer_id")
    job = GroupTransfer.objects.select_related("takeover").filter(pk=job_id).first()
    if job is None:
        return
    refused = {str(f.get("chat_id")): f for f in result.get("failed_chat_list") or ()}
    items = GroupTransferItem.objects.select_related("group").filter(
        transfer=job, group__chat_id__in=list(call.payload.get("chat_ids", [])), status=GroupTransferItemStatus.PENDING)
    for item in items:
        failure = refused.get(item.group.chat_id)
        if failure is not None:
            code = int(failure.get("errcode", 0) or 0)
            item.status, item.errcode, item.reason = (GroupTransferItemStatus.REFUSED, code,
                                                      reason_of(code, str(failure.get("errmsg", ""))))
        else:
            item.status = GroupTransferItemStatus.DONE
            CustomerGroup.objects.filter(pk=item.group_id).update(owner=job.takeover,
                                                                  owner_userid=job.takeover.wecom_userid)
        item.save(update_fields=["status", "errcode", "reason"])
    _finish(job.pk)


@on_failure("transfer_group_chats")
def _transfer_failed(call: OutboundCall, exc: WecomError) -> None:
    job_id = call.payload.get(REF, {}).get("group_transfer_id")
    GroupTransferItem.objects.filter(
        transfer_id=job_id, group__chat_id__in=list(call.payload.get("chat_ids", [])),
        status=GroupTransferItemStatus.PENDING,
    ).update(status=GroupTransferItemStatus.REFUSED, errcode=exc.errcode, reason=reason_of(exc.errcode, str(exc)))
    _finish(job_id)
