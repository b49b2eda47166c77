"""Customer inheritance (离职继承 / 在职继承): hand a staff member's customers to a successor through WeCom.

Submitting writes one item per customer and outbox calls of ≤100 customers each; WeCom answers each customer with an
errcode (0 = started) and completes the takeover 24 h later unless the customer refuses or the successor is at its
limit. Results arrive as callbacks (del_external_contact with Source=DELETE_BY_TRANSFER on success, transfer_fail
otherwise) and through transfer_result polling; either path settles an item once. On success the relationship
history is carried over: the old relationship becomes `transferred`, the new one names the previous staff member
and keeps the original source state.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_

from siyu.channels.wecom.accounts import wecom_account
from siyu.channels.wecom.client import TransferStatus, WecomError
from siyu.channels.wecom.models import (
    OutboundCall,
    TransferItem,
    TransferItemStatus,
    TransferJob,
    TransferJobStatus,
    TransferKind,
)
from siyu.channels.wecom.outbox import REF, enqueue_call, on_failure, on_success
from siyu.channels.wecom.provider import client_for
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import NotFound, ValidationFailed
from siyu.core.timeutil import now
from siyu.customers import services as customer_services
from siyu.customers.models import Channel, Identity, IdentityKind, Relationship, RelationshipStatus
from siyu.org import queries as org_queries
from siyu.org.scope import Scope

BATCH = 100
MESSAGE_MAX = 200
RESULT_STATUS = {
    1: TransferItemStatus.SUCCEEDED,
    2: TransferItemStatus.WAITING,
    3: TransferItemStatus.REFUSED,
    4: TransferItemStatus.LIMIT,
    5: TransferItemStatus.NO_RECORD,
}
FINAL = {
    TransferItemStatus.SUCCEEDED,
    TransferItemStatus.REFUSED,
    TransferItemStatus.LIMIT,
    TransferItemStatus.NO_RECORD,
    TransferItemStatus.REJECTED,
}


def _candidates(enterprise_id: int, handover_id: int) -> dict[int, str]:
    """customer id -> external_userid for the handover's active WeCom customers."""
    rels = Relationship.objects.filter(
        staff_id=handover_id, status=RelationshipStatus.ACTIVE, customer__merged_into__isnull=True
    ).values_list("customer_id", flat=True)
    return dict(
        Identity.objects.filter(
            customer_id__in=rels, enterprise_id=enterprise_id, kind=IdentityKind.WECOM_EXTERNAL_USERID
        ).values_list("customer_id", "value")
    )


def _check_people(scope: Scope, kind: str, handover_id: int, takeover_id: int) -> tuple[Any, Any]:
    if kind not in TransferKind.values:
        raise ValidationFailed(_("kind is one of %(join)s") % {"join": ', '.join(TransferKind.values)}, field="kind",
                               code="unknown_kind")
    handover = org_queries.get_staff(scope, handover_id)
    takeover = org_queries.get_staff(Scope.hq(scope.enterprise_id), takeover_id)
    if handover.pk == takeover.pk:
        raise ValidationFailed(_("the successor must be someone else"), field="takeover_id",
                               code="same_staff")
    if not handover.wecom_userid:
        raise ValidationFailed(_("the staff member has no WeCom account"), field="handover_id",
                               code="no_wecom_account")
    if not takeover.wecom_userid or not takeover.is_active:
        raise ValidationFailed(_("the successor needs an active WeCom account"), field="takeover_id",
                               code="successor_no_wecom_account")
    if kind == TransferKind.RESIGNED and handover.is_active:
        raise ValidationFailed(_("离职继承 is for staff who have left: mark them as left first"), field="kind",
                               code="staff_not_left")
    return handover, takeover


@transaction.atomic
def start_transfer(
    *,
    scope: Scope,
    account_id: int,
    kind: str,
    handover_id: int,
    takeover_id: int,
    customer_ids: Sequence[int] | None = None,
    message: str = "",
    actor: Actor = None,
) -> TransferJob:
    """Hand all (customer_ids=None) or some of a staff member's customers to a successor."""
    account = wecom_account(account_id, enterprise_id=scope.enterprise_id)
    handover, takeover = _check_people(scope, kind, handover_id, takeover_id)
    if len(message) > MESSAGE_MAX:
        raise ValidationFailed(
            _("the message is at most %(MESSAGE_MAX)s characters") % {"MESSAGE_MAX": MESSAGE_MAX},
            field="message",
            code="message_length",
        )
    candidates = _candidates(scope.enterprise_id, handover.pk)
    if customer_ids is not None:
        for index, customer_id in enumerate(customer_ids):
            if customer_id not in candidates:
                raise NotFound(
                    _("customer %(customer_id)s is not an active WeCom customer of %(name)s")
                    % {"customer_id": customer_id, "name": handover.name},
                    field="customer_ids", index=index,
                )
        chosen = {cid: candidates[cid] for cid in dict.fromkeys(customer_ids)}
    else:
        chosen = candidates
    if not chosen:
        raise ValidationFailed(
            _("%(name)s has no WeCom customers to hand over") % {"name": handover.name},
            field="customer_ids",
            code="no_customers",
        )
    job = TransferJob.objects.create(
        enterprise_id=scope.enterprise_id,
        account=account,
        kind=kind,
        handover=handover,
        takeover=takeover,
        message=message,
        created_by=audit.user_of(actor),
    )
    TransferItem.objects.bulk_create(
        [TransferItem(job=job, customer_id=cid, external_userid=ext) for cid, ext in sorted(chosen.items())]
    )
    externals = [ext for _ignored, ext in sorted(chosen.items())]
    for index in range(0, len(externals), BATCH):
        enqueue_call(
            account=account,
            method="transfer_customer",
            payload={
                "handover_userid": handover.wecom_userid,
                "takeover_userid": takeover.wecom_userid,
                "external_userids": externals[index : index + BATCH],
                "transfer_success_msg": message,
                "resigned": kind == TransferKind.RESIGNED,
                REF: {"job_id": job.pk},
            },
            key=f"transfer_customer:{job.pk}:{index // BATCH}",
        )
    audit.record(
        enterprise_id=scope.enterprise_id,
        actor=actor,
        action="wecom.transfer.start",
        target_type="transfer_job",
        target_id=job.pk,
        summary=audit.ntext(N_("%(kind)s: %(count)s customer %(from)s → %(to)s"),
                            N_("%(kind)s: %(count)s customers %(from)s → %(to)s"), len(chosen),
                            kind=audit.label(TransferKind(kind).label),
                            **{"from": handover.name, "to": takeover.name}),
    )
    return job


@on_success("transfer_customer")
def _submitted(call: OutboundCall, result: dict[str, Any]) -> None:
    job_id = call.payload.get(REF, {}).get("job_id")
    for row in result.get("customer") or ():
        errcode = int(row.get("errcode", 0))
        TransferItem.objects.filter(
            job_id=job_id, external_userid=row.get("external_userid", ""), status=TransferItemStatus.PENDING
        ).update(
            status=TransferItemStatus.WAITING if errcode == 0 else TransferItemStatus.REJECTED, errcode=errcode
        )
    _settle_job(job_id)


@on_failure("transfer_customer")
def _submit_failed(call: OutboundCall, exc: WecomError) -> None:
    job_id = call.payload.get(REF, {}).get("job_id")
    TransferItem.objects.filter(
        job_id=job_id, external_userid__in=call.payload.get("external_userids") or [], status=TransferItemStatus.PENDING
    ).update(status=TransferItemStatus.REJECTED, errcode=exc.errcode)
    _settle_job(job_id)


def _settle_job(job_id: int | None) -> None:
    job = TransferJob.objects.filter(pk=job_id).first() if job_id is not None else None
    if job is None:
        return
    statuses = set(job.items.values_list("status", flat=True))
    if statuses and statuses <= FINAL:
        job.status, job.finished_at = TransferJobStatus.DONE, job.finished_at or now()
    elif TransferItemStatus.PENDING not in statuses:
        job.status = TransferJobStatus.WAITING
    job.save(update_fields=["status", "finished_at"])


def _carry_over(item: TransferItem, at: datetime) -> None:
    job = item.job
    customer = item.customer
    old = Relationship.objects.filter(customer=customer, staff=job.handover).first()
    customer_services.end_relationship(
        customer=customer, staff=job.handover, status=RelationshipStatus.TRANSFERRED, at=at
    )
    customer_services.add_relationship(
        customer=customer,
        staff=job.takeover,
        added_at=at,
        channel=Channel.WECOM,
        state=old.state if old is not None else "",
        remark=old.remark if old is not None else "",
        previous_staff=job.handover,
    )
    customer_services.record_event(
        customer=customer,
        name="wecom_contact_transferred",
        idempotency_key=f"wecom_transferred:{item.pk}",
        occurred_at=at,
        channel=Channel.WECOM,
        staff_id=job.takeover_id,
        properties={"from_staff_id": job.handover_id, "to_staff_id": job.takeover_id, "kind": job.kind},
    )


def settle_item(item: TransferItem, status: str, *, at: datetime | None = None, errcode: int | None = None) -> bool:
    """Move an item to a result once; success carries the relationship over. False when it was already final."""
    if item.status in FINAL or status == item.status:
        return False
    item.status = status
    if errcode is not None:
        item.errcode = errcode
    if at is not None and status == TransferItemStatus.WAITING:
        item.takeover_time = at
    item.save(update_fields=["status", "errcode", "takeover_time", "updated_at"])
    if status == TransferItemStatus.SUCCEEDED:
        _carry_over(item, min(at, now()) if at is not None else now())
    _settle_job(item.job_id)
    return True


def _open_item(external_userid: str, *, handover_userid: str = "", takeover_userid: str = "") -> TransferItem | None:
    qs = TransferItem.objects.select_related("job", "job__handover", "job__takeover", "customer").filter(
        external_userid=external_userid,
        status__in=[TransferItemStatus.WAITING, TransferItemStatus.PENDING],
    )
    if handover_userid:
        qs = qs.filter(job__handover__wecom_userid=handover_userid)
    if takeover_userid:
        qs = qs.filter(job__takeover__wecom_userid=takeover_userid)
    return qs.order_by("-id").first()


def on_transfer_done(*, handover_userid: str, external_userid: str, at: datetime) -> bool:
    """del_external_contact with Source=DELETE_BY_TRANSFER: the successor has the customer now."""
    item = _open_item(external_userid, handover_userid=handover_userid)
    return item is not None and settle_item(item, TransferItemStatus.SUCCEEDED, at=at)


def on_transfer_fail(*, takeover_userid: str, external_userid: str, reason: str) -> bool:
    item = _open_item(external_userid, takeover_userid=takeover_userid)
    if item is None:
        return False
    status = TransferItemStatus.REFUSED if reason == "customer_refused" else TransferItemStatus.LIMIT
    return settle_item(item, status)


def _apply_status(job: TransferJob, row: TransferStatus) -> bool:
    item = job.items.select_related("job", "job__handover", "job__takeover", "customer").filter(
        external_userid=row.external_userid
    ).first()
    status = RESULT_STATUS.get(row.status)
    if item is None or status is None:
        return False
    at = datetime.fromtimestamp(row.takeover_time, UTC) if row.takeover_time else None
    with transaction.atomic():
        return settle_item(item, status, at=at)


def poll_transfer(*, job_id: int) -> int:
    """transfer_result (cursor paging) for one job; returns how many items changed."""
    job = TransferJob.objects.select_related("account", "handover", "takeover").get(pk=job_id)
    if job.status == TransferJobStatus.DONE:
        return 0
    client = client_for(job.account)
    changed, cursor = 0, ""
    while True:
        page = client.transfer_result(
            handover_userid=job.handover.wecom_userid,
            takeover_userid=job.takeover.wecom_userid,
            cursor=cursor,
            resigned=job.kind == TransferKind.RESIGNED,
        )
        changed += sum(_apply_status(job, row) for row in page.items)
        if not page.next_cursor:
            return changed
        cursor = page.next_cursor


def poll_open_transfers() -> int:
    """Periodic: every job still waiting for WeCom."""
    ids = TransferJob.objects.filter(~Q(status=TransferJobStatus.DONE)).values_list("id", flat=True)
    return sum(poll_transfer(job_id=job_id) for job_id in list(ids))
