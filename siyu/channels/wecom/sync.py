"""Full customer sync: every staff member's existing WeCom customers through batch/get_by_user (cursor paging).

Run once when an account is connected, and whenever operators want to re-check. A page (≤100 follow relations) is
fetched, with the definitions of the corp tags it names that Siyu does not know yet, then written in one short
transaction (no network inside it): customers already known with an active relationship are only tag-merged; the
rest are resolved (created or merged by unionid) and related. Progress is on the SyncRun row.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F

from siyu.channels.models import ChannelAccount
from siyu.channels.wecom import tags
from siyu.channels.wecom.accounts import wecom_account
from siyu.channels.wecom.client import ContactPage, CorpTagGroup, WecomError
from siyu.channels.wecom.models import SyncRun, SyncStatus
from siyu.channels.wecom.provider import client_for
from siyu.core import jobs
from siyu.core.timeutil import now
from siyu.customers import services as customer_services
from siyu.customers.models import Channel, Identity, IdentityKind, Relationship, RelationshipStatus
from siyu.customers.services import IdentityInput
from siyu.org import queries as org_queries
from siyu.org.models import Staff
from siyu.org.scope import Scope

STAFF_PER_REQUEST = 100


STALE_AFTER = timedelta(hours=2)


def start_sync(*, scope: Scope, account_id: int) -> SyncRun:
    """Start a customer sync, or return the one already running for the account (a partial unique constraint keeps
    it to one). A run whose worker died stops blocking after STALE_AFTER: it is marked failed ("interrupted")."""
    account = wecom_account(account_id, enterprise_id=scope.enterprise_id)
    SyncRun.objects.filter(account=account, status=SyncStatus.RUNNING, started_at__lt=now() - STALE_AFTER).update(
        status=SyncStatus.FAILED, error="interrupted: the worker stopped before it finished", finished_at=now())
    try:
        with transaction.atomic():
            run = SyncRun.objects.create(account=account)
            transaction.on_commit(lambda: _enqueue(run.pk), robust=True)
    except IntegrityError:
        running = SyncRun.objects.filter(account=account, status=SyncStatus.RUNNING).first()
        if running is None:  # it finished meanwhile
            return start_sync(scope=scope, account_id=account_id)
        return running
    return run


def _enqueue(run_id: int) -> None:
    jobs.enqueue("sync_wecom_customers", run_id)


def _import_page(
    account: ChannelAccount, staff_by_userid: dict[str, Staff], page: ContactPage, fetched: tuple[CorpTagGroup, ...]
) -> tuple[int, int]:
    tags.link_fetched(account, fetched)
    externals = [contact.external_userid for contact, _ in page.items]
    known = dict(
        Identity.objects.filter(
            enterprise_id=account.enterprise_id, kind=IdentityKind.WECOM_EXTERNAL_USERID, value__in=externals
        ).values_list("value", "customer_id")
    )
    active = set(
        Relationship.objects.filter(customer_id__in=list(known.values()), status=RelationshipStatus.ACTIVE)
        .values_list("customer_id", "staff__wecom_userid")
    )
    created = related = 0
    for contact, follow in page.items:
        staff = staff_by_userid.get(follow.userid)
        cid = known.get(contact.external_userid)
        if cid is None or staff is None or (cid, follow.userid) not in active:
            identities = [IdentityInput(IdentityKind.WECOM_EXTERNAL_USERID, contact.external_userid, account.app_id)]
            if contact.unionid:
                identities.append(IdentityInput(IdentityKind.UNIONID, contact.unionid))
            added_at = min(datetime.fromtimestamp(follow.createtime, UTC), now()) if follow.createtime else now()
            customer = customer_services.resolve_customer(
                enterprise_id=account.enterprise_id,
                identities=identities,
                defaults={"name": contact.name[:64], "created_source": Channel.WECOM, "created_at": added_at},
            )
            created += cid is None
            if staff is not None:
                customer_services.add_relationship(
                    customer=customer, staff=staff, added_at=added_at, state=follow.state[:64],
                    remark=follow.remark[:120],
                )
                related += 1
            cid = customer.pk
        customer_obj = customer_services.find_by_identity(
            enterprise_id=account.enterprise_id, kind=IdentityKind.WECOM_EXTERNAL_USERID, value=contact.external_userid
        )
        if customer_obj is not None:
            tags.merge_follow_tags(
                account,
                userid=follow.userid,
                external_userid=contact.external_userid,
                customer=customer_obj,
                wecom_tag_ids=follow.tag_ids,
            )
    return created, related


def run_sync(*, run_id: int) -> str:
    run = SyncRun.objects.select_related("account").get(pk=run_id)
    if run.status != SyncStatus.RUNNING:
        return "skipped"
    account = run.account
    staff_by_userid = {
        s.wecom_userid: s
        for s in org_queries.staff(Scope.hq(account.enterprise_id)).exclude(wecom_userid="").filter(is_active=True)
    }
    client = client_for(account)
    try:
        userids = sorted(set(staff_by_userid) & set(client.follow_user_list()))
        SyncRun.objects.filter(pk=run.pk).update(staff_total=len(userids))
        for start in range(0, len(userids), STAFF_PER_REQUEST):
            chunk = userids[start : start + STAFF_PER_REQUEST]
            for page in client.iter_contacts_by_user(chunk):
                # the page's unknown corp tags are fetched before its transaction: no network inside it
                fetched = tags.fetch_unknown(account, {t for _, follow in page.items for t in follow.tag_ids})
                with transaction.atomic():
                    created, related = _import_page(account, staff_by_userid, page, fetched)
                SyncRun.objects.filter(pk=run.pk).update(
                    contacts_seen=F("contacts_seen") + len(page.items),
                    customers_created=F("customers_created") + created,
                    relationships_added=F("relationships_added") + related,
                )
            SyncRun.objects.filter(pk=run.pk).update(staff_done=start + len(chunk))
    except WecomError as exc:
        SyncRun.objects.filter(pk=run.pk).update(status=SyncStatus.FAILED, error=str(exc)[:255], finished_at=now())
        return "failed"
    SyncRun.objects.filter(pk=run.pk).update(status=SyncStatus.DONE, finished_at=now())
    return "done"
