"""Full follower sync: every follower the platform lists becomes a customer with its openid (and unionid) identity.

user/get lists the followers' openids, 10,000 a page, paged by `next_openid`; user/info/batchget gives their details
100 at a time (unionid, subscribe time, subscribe scene, QR scene). One batch of 100 is one transaction, and it is
set-based where the customers service allows it: the batch's identities are looked up in one query, a follower
already known under the same identities is only refreshed (no customer write), and only a new or changed identity
goes through `resolve_customer` (in a savepoint of its own: one follower's conflict fails that follower, not the
batch), which merges by unionid: a follower whose unionid a WeCom customer already has joins that customer. The
follow events of newly imported followers are written by `ingest_events` in one statement per batch, keyed by the
openid and the subscribe time, so a second run writes nothing new.

When the whole list has been read, followers Siyu still has as following that the platform no longer listed (and who
did not follow again after the run started) are marked unfollowed. Progress is on the FollowerSync row.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_

from siyu.channels.models import AccountKind, ChannelAccount
from siyu.channels.official_account.client import BATCHGET_MAX, OaApiError, OaClient, RetryableError, UserInfo
from siyu.channels.official_account.models import Follower, FollowerSync, SyncStatus
from siyu.channels.official_account.provider import client_for
from siyu.core import audit, jobs
from siyu.core.audit import Actor, user_of
from siyu.core.errors import DomainError, NotFound
from siyu.core.timeutil import now
from siyu.customers import services as customer_services
from siyu.customers.models import Channel, Identity, IdentityKind
from siyu.customers.services import EventInput, IdentityInput

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=10)
FOLLOWER_FIELDS = [
    "unionid", "customer_id", "subscribed", "subscribe_scene", "qr_scene", "followed_at", "unfollowed_at",
    "follow_count", "last_listed_run",
]


def _oa_account(account_id: int, enterprise_id: int) -> ChannelAccount:
    account = ChannelAccount.objects.filter(
        pk=account_id, enterprise_id=enterprise_id, kind=AccountKind.OFFICIAL_ACCOUNT
    ).first()
    if account is None:
        raise NotFound(_("no Official Account %(account_id)s") % {"account_id": account_id}, field="account_id")
    return account


def start_sync(*, enterprise_id: int, account_id: int, actor: Actor = None) -> FollowerSync:
    """Start a full follower sync in the worker. One runs per account at a time: starting again while one runs
    returns that run (and sets it going again when nobody has worked on it for a while)."""
    account = _oa_account(account_id, enterprise_id)
    running = FollowerSync.objects.filter(account=account, status=SyncStatus.RUNNING).first()
    if running is not None:
        return _resume_if_stale(running)
    try:
        with transaction.atomic():
            run = FollowerSync.objects.create(account=account, started_by=user_of(actor), heartbeat_at=now())
            audit.record(enterprise_id=enterprise_id,
                         actor=actor, action="oa.follower_sync", target_type="channel_account", target_id=account.pk,
                         summary=audit.text(N_("follower sync #%(run)s"), run=run.pk))
            transaction.on_commit(lambda: _enqueue(run.pk), robust=True)
    except IntegrityError:  # another start won the race
        return FollowerSync.objects.get(account=account, status=SyncStatus.RUNNING)
    return run


def _resume_if_stale(run: FollowerSync) -> FollowerSync:
    moment = now()
    if run.heartbeat_at is None or moment - run.heartbeat_at > STALE_AFTER:
        claimed = FollowerSync.objects.filter(pk=run.pk, status=SyncStatus.RUNNING, heartbeat_at=run.heartbeat_at)
        if claimed.update(heartbeat_at=moment):
            transaction.on_commit(lambda: _enqueue(run.pk), robust=True)
            run.heartbeat_at = moment
    return run


def _enqueue(run_id: int) -> None:
    jobs.enqueue("sync_oa_followers", run_id)


def run_sync(*, run_id: int) -> str:
    """Page through the list from the run's cursor, import every batch, then mark who left. Safe to run twice: a run
    that is done or failed is left alone, and a running one carries on from its cursor."""
    run = FollowerSync.objects.select_related("account").filter(pk=run_id).first()
    if run is None or run.status != SyncStatus.RUNNING:
        return "skipped"
    client = client_for(run.account)
    cursor = run.next_openid
    try:
        while True:
            page = client.user_list(cursor)
            FollowerSync.objects.filter(pk=run.pk).update(total=page.total, heartbeat_at=now())
            if not page.openids:
                break
            for start in range(0, len(page.openids), BATCHGET_MAX):
                _import_batch(run, client, page.openids[start : start + BATCHGET_MAX])
            done_with_list = not page.next_openid or page.next_openid == cursor
            cursor = page.next_openid
            FollowerSync.objects.filter(pk=run.pk).update(
                pages_done=F("pages_done") + 1, next_openid=cursor, heartbeat_at=now()
            )
            if done_with_list:
                break
    except OaApiError as exc:
        FollowerSync.objects.filter(pk=run.pk).update(status=SyncStatus.FAILED, error=str(exc)[:255],
                                                      finished_at=now())
        return "failed"
    with transaction.atomic():
        left = _mark_unfollowed(run)
        FollowerSync.objects.filter(pk=run.pk).update(
            status=SyncStatus.DONE, unfollowed=F("unfollowed") + left, next_openid="", finished_at=now(),
            heartbeat_at=now(),
        )
    return "done"


def _mark_unfollowed(run: FollowerSync) -> int:
    """Followers the complete list did not name have left; the ones who followed after the run began are spared
    (they may have followed after their place in the list was read)."""
    gone = (
        Follower.objects.filter(account_id=run.account_id, subscribed=True)
        .exclude(last_listed_run=run.pk)
        .filter(Q(followed_at__isnull=True) | Q(followed_at__lt=run.started_at))
    )
    return int(gone.update(subscribed=False, unfollowed_at=now()))


# ---------------------------------------------------------------------------------------------------------------
# One batch of at most 100 followers


@dataclass
class _Tally:
    imported: int = 0
    created: int = 0
    merged: int = 0
    failed: int = 0
    unfollowed: int = 0


def _fetch(client: OaClient, openids: Sequence[str]) -> tuple[list[UserInfo], int]:
    """The batch's details; when the platform refuses the whole batch (one bad openid does that), one by one, so
    only the bad ones fail. A retryable error (quota, busy) stops the run: a new start resumes it."""
    try:
        return client.user_info_batch(openids), 0
    except RetryableError:
        raise
    except OaApiError as exc:
        log.warning("user/info/batchget refused a batch (%s); asking one by one", exc)
    infos, failed = [], 0
    for openid in openids:
        try:
            infos.append(client.user_info(openid))
        except RetryableError:
            raise
        except OaApiError:
            failed += 1
    return infos, failed


def _import_batch(run: FollowerSync, client: OaClient, openids: Sequence[str]) -> None:
    infos, failed = _fetch(client, openids)
    with transaction.atomic():
        tally = _apply(run, infos)
        tally.failed += failed
        FollowerSync.objects.filter(pk=run.pk).update(
            seen=F("seen") + len(openids),
            imported=F("imported") + tally.imported,
            created=F("created") + tally.created,
            merged=F("merged") + tally.merged,
            failed=F("failed") + tally.failed,
            unfollowed=F("unfollowed") + tally.unfollowed,
            heartbeat_at=now(),
        )


Owners = dict[tuple[str, str], int]


def _owners(account: ChannelAccount, infos: Sequence[UserInfo]) -> Owners:
    """(identity kind, value) -> customer id, for the batch's openids and unionids, in one query."""
    openids = [i.openid for i in infos]
    unionids = [i.unionid for i in infos if i.unionid]
    wanted = Q(kind=IdentityKind.OA_OPENID, value__in=openids) | Q(kind=IdentityKind.UNIONID, value__in=unionids)
    rows = Identity.objects.filter(wanted, enterprise_id=account.enterprise_id).values_list(
        "kind", "value", "customer_id"
    )
    return {(kind, value): cid for kind, value, cid in rows}


def _moment(timestamp: int) -> datetime | None:
    return min(datetime.fromtimestamp(timestamp, UTC), now()) if timestamp > 0 else None


def _customer_for(account: ChannelAccount, info: UserInfo, owners: Owners, tally: _Tally) -> int | None:
    """The follower's customer: looked up when both identities already point at it, else resolved (created, joined
    to the customer holding the unionid, or two customers merged). None when the customers service refuses."""
    by_openid = owners.get((IdentityKind.OA_OPENID, info.openid))
    by_unionid = owners.get((IdentityKind.UNIONID, info.unionid)) if info.unionid else None
    if by_openid is not None and (not info.unionid or by_unionid == by_openid):
        return by_openid
    identities = [IdentityInput(kind=IdentityKind.OA_OPENID, value=info.openid, account=account.app_id)]
    if info.unionid:
        identities.append(IdentityInput(kind=IdentityKind.UNIONID, value=info.unionid))
    defaults: dict[str, Any] = {"created_source": Channel.OFFICIAL_ACCOUNT}
    followed_at = _moment(info.subscribe_time)
    if followed_at is not None:
        defaults["created_at"] = followed_at
    try:
        with transaction.atomic():
            customer = customer_services.resolve_customer(
                enterprise_id=account.enterprise_id, identities=identities, defaults=defaults
            )
    except DomainError as exc:
        log.warning("follower %s of account %s not imported: %s", info.openid, account.pk, exc.message)
        tally.failed += 1
        return None
    if by_openid is None:
        tally.imported += 1
        tally.created += by_unionid is None
    tally.merged += by_unionid is not None and by_unionid != by_openid
    stale = {by_openid, by_unionid} - {None}
    for key, cid in list(owners.items()):
        if cid in stale:
            owners[key] = customer.pk
    owners[(IdentityKind.OA_OPENID, info.openid)] = customer.pk
    if info.unionid:
        owners[(IdentityKind.UNIONID, info.unionid)] = customer.pk
    return customer.pk


def _scene_of(info: UserInfo) -> str:
    return (info.qr_scene_str or (str(info.qr_scene) if info.qr_scene else ""))[:64]


def _refresh(row: Follower, info: UserInfo, customer_id: int, run_id: int) -> None:
    scene = _scene_of(info)
    row.unionid = info.unionid or row.unionid
    row.customer_id = customer_id
    row.subscribed, row.unfollowed_at = True, None
    row.followed_at = _moment(info.subscribe_time) or row.followed_at
    row.subscribe_scene = info.subscribe_scene[:40] or row.subscribe_scene
    if scene and not row.qr_scene:
        row.qr_scene = scene
    row.follow_count = max(row.follow_count, 1)
    row.last_listed_run = run_id


def _follow_event(account: ChannelAccount, info: UserInfo, customer_id: int) -> EventInput | None:
    followed_at = _moment(info.subscribe_time)
    if followed_at is None:
        return None
    return EventInput(
        name="oa_followed",
        occurred_at=followed_at,
        idempotency_key=f"oa_follow_sync:{account.pk}:{info.openid}:{info.subscribe_time}"[:128],
        customer_id=customer_id,
        channel=Channel.OFFICIAL_ACCOUNT,
        properties={"scene": _scene_of(info)},
    )


def _apply(run: FollowerSync, infos: Sequence[UserInfo]) -> _Tally:
    account, tally = run.account, _Tally()
    existing = {f.openid: f for f in Follower.objects.filter(account=account, openid__in=[i.openid for i in infos])}
    following = [info for info in infos if info.subscribed]
    owners = _owners(account, following)
    fresh: list[Follower] = []
    changed: list[Follower] = []
    events: list[EventInput] = []
    for info in following:
        customer_id = _customer_for(account, info, owners, tally)
        if customer_id is None:
            continue
        row = existing.get(info.openid)
        if row is None or row.follow_count == 0:  # no follow of this openid recorded yet: the import is its first
            event = _follow_event(account, info, customer_id)
            if event is not None:
                events.append(event)
        if row is None:
            row = Follower(account=account, openid=info.openid)
            fresh.append(row)
        else:
            changed.append(row)
        _refresh(row, info, customer_id, run.pk)
    for info in infos:
        row = existing.get(info.openid)
        if not info.subscribed and row is not None and row.subscribed:  # left between the list and the details
            row.subscribed, row.unfollowed_at = False, now()
            changed.append(row)
            tally.unfollowed += 1
    Follower.objects.bulk_create(fresh, ignore_conflicts=True)
    Follower.objects.bulk_update(changed, FOLLOWER_FIELDS)
    if events:
        customer_services.ingest_events(enterprise_id=account.enterprise_id, batch=events)
    return tally
