"""Two-way tag sync between Siyu's tags and WeCom's corp tags.

Definitions: WeCom's corp tags (created in the admin console, announced by change_external_tag) become Siyu tags in
a linked group; Siyu's tags are pushed with add_corp_tag. Links are per account (TagLink / TagGroupLink).

Assignments: WeCom keeps corp tags per follow relation (staff member, customer); Siyu per customer. ContactTag holds
what WeCom last said for each relation, the base of a three-way merge: a tag added or removed in WeCom since the base
is added to or removed from the customer in Siyu; a linked tag the customer has in Siyu but WeCom lacks (or the other
way round, with the base agreeing with WeCom) is pushed with mark_tag.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext_lazy as _

from siyu.channels.models import AccountKind, ChannelAccount
from siyu.channels.wecom.accounts import upstream_error, wecom_account
from siyu.channels.wecom.client import CorpTagGroup, WecomError
from siyu.channels.wecom.models import (
    CallStatus,
    ContactTag,
    FollowTagVersion,
    OutboundCall,
    TagGroupLink,
    TagLink,
)
from siyu.channels.wecom.outbox import REF, enqueue_call, on_success
from siyu.channels.wecom.provider import client_for
from siyu.core.errors import ValidationFailed
from siyu.customers import queries as customer_queries
from siyu.customers import services as customer_services
from siyu.customers.models import (
    Customer,
    CustomerTag,
    IdentityKind,
    Relationship,
    RelationshipStatus,
    Tag,
    TagGroup,
    TagKind,
)
from siyu.customers.services import TagChange
from siyu.org.scope import Scope

WECOM_NAME_MAX = 30
IN_FLIGHT = [CallStatus.PENDING, CallStatus.RETRYING, CallStatus.RUNNING]

# The account whose word about tag definitions is being applied to Siyu right now: Siyu's tag hook does not send a
# change back to the account it came from (the echo would be a no-op call at best, a stale overwrite at worst).
_APPLYING: ContextVar[int | None] = ContextVar("wecom_tag_definitions_from", default=None)


@contextmanager
def _from_wecom(account: ChannelAccount) -> Iterator[None]:
    token = _APPLYING.set(account.pk)
    try:
        yield
    finally:
        _APPLYING.reset(token)


def links(account: ChannelAccount) -> dict[str, int]:
    """wecom tag id -> Siyu tag id."""
    return dict(TagLink.objects.filter(account=account).values_list("wecom_tag_id", "tag_id"))


def _siyu_group(account: ChannelAccount, group: CorpTagGroup) -> int:
    link = TagGroupLink.objects.filter(account=account, wecom_group_id=group.group_id).first()
    if link is not None:
        return link.group_id
    scope = Scope.hq(account.enterprise_id)
    existing = next((g for g in customer_queries.tag_library(scope) if g.name == group.group_name), None)
    if existing is None:
        existing = customer_services.create_tag_group(enterprise_id=account.enterprise_id, name=group.group_name)
    TagGroupLink.objects.get_or_create(account=account, group=existing, defaults={"wecom_group_id": group.group_id})
    return existing.pk


def import_groups(account: ChannelAccount, groups: Iterable[CorpTagGroup]) -> int:
    """Link (or create) a Siyu group and tag for every WeCom corp tag; rename on a changed name. Returns new links.

    A tag or group Siyu is still deleting or renaming on WeCom (its call in the outbox) keeps Siyu's word: what WeCom
    says about it now is the state before that call."""
    with _from_wecom(account):
        return _import_groups(account, groups)


def _import_groups(account: ChannelAccount, groups: Iterable[CorpTagGroup]) -> int:
    created = 0
    known = links(account)
    renaming, deleting = _calls_in_flight(account)
    for group in groups:
        if group.deleted or group.group_id in deleting:
            continue
        group_id = _siyu_group(account, group)
        siyu_tags = {t.name: t for t in Tag.objects.filter(group_id=group_id)}
        for tag in group.tags:
            if tag.deleted or tag.id in deleting:
                continue
            if tag.id in known:
                linked = Tag.objects.get(pk=known[tag.id])
                if linked.name != tag.name and tag.name not in siyu_tags and tag.id not in renaming:
                    customer_services.rename_tag(tag=linked, name=tag.name)
                continue
            target = siyu_tags.get(tag.name)
            if target is None:
                target = customer_services.create_tag(group=TagGroup.objects.get(pk=group_id), name=tag.name)
                siyu_tags[tag.name] = target
            if not TagLink.objects.filter(account=account, tag=target).exists():
                TagLink.objects.create(account=account, tag=target, wecom_tag_id=tag.id)
                known[tag.id] = target.pk
                created += 1
    return created


def fetch_unknown(account: ChannelAccount, wecom_tag_ids: Iterable[str]) -> tuple[CorpTagGroup, ...]:
    """The definitions of the corp tags Siyu has no link for yet, from the platform. Network: call it before the
    transaction that applies them (link_fetched / merge_follow_tags), never inside one."""
    unknown = sorted(set(wecom_tag_ids) - set(links(account)))
    return client_for(account).get_corp_tag_list(tag_ids=unknown) if unknown else ()


def link_fetched(account: ChannelAccount, fetched: Iterable[CorpTagGroup]) -> dict[str, int]:
    """Import definitions fetched beforehand (fetch_unknown) and return the links; no network."""
    groups = tuple(fetched)
    if groups:
        import_groups(account, groups)
    return links(account)


def merge_follow_tags(
    account: ChannelAccount,
    *,
    userid: str,
    external_userid: str,
    customer: Customer,
    wecom_tag_ids: Sequence[str],
    fetched: Iterable[CorpTagGroup] = (),
) -> tuple[int, int]:
    """Apply what WeCom changed on one follow relation since the base to the customer's Siyu tags.

    `fetched` are the definitions of tags unknown before the transaction (fetch_unknown); a tag still unknown here is
    left out of the base, so the next event for the relation brings it in."""
    known = link_fetched(account, fetched)
    current = {t for t in wecom_tag_ids if t in known}
    base_rows = ContactTag.objects.filter(account=account, userid=userid, external_userid=external_userid)
    base = set(base_rows.values_list("wecom_tag_id", flat=True))
    added = [known[t] for t in sorted(current - base)]
    removed = [known[t] for t in sorted(base - current) if t in known]
    if added:
        customer_services.tag_customers(
            enterprise_id=account.enterprise_id, customer_ids=[customer.pk], tag_ids=added, source=TagKind.MANUAL
        )
    if removed:
        customer_services.untag_customers(
            enterprise_id=account.enterprise_id, customer_ids=[customer.pk], tag_ids=removed
        )
    _set_base(account, userid, external_userid, current)
    return len(added), len(removed)


def _set_base(account: ChannelAccount, userid: str, external_userid: str, tag_ids: set[str]) -> None:
    rows = ContactTag.objects.filter(account=account, userid=userid, external_userid=external_userid)
    if set(rows.values_list("wecom_tag_id", flat=True)) != tag_ids:
        _bump_base(account, userid, external_userid)
    rows.exclude(wecom_tag_id__in=tag_ids).delete()
    ContactTag.objects.bulk_create(
        [ContactTag(account=account, userid=userid, external_userid=external_userid, wecom_tag_id=t) for t in tag_ids],
        ignore_conflicts=True,
    )


# ---------------------------------------------------------------------------------------------------------------
# change_external_tag


def fetch_for_tag_event(
    account: ChannelAccount, *, tag_type: str, change: str, wecom_id: str
) -> tuple[CorpTagGroup, ...]:
    """What a change_external_tag event needs from the platform (network, before the transaction): the created or
    updated tag's or group's definition; nothing for a deletion or a reorder."""
    if change in ("shuffle", "delete") or not wecom_id:
        return ()
    client = client_for(account)
    if tag_type == "tag_group":
        return client.get_corp_tag_list(group_ids=[wecom_id])
    return client.get_corp_tag_list(tag_ids=[wecom_id])


def on_tag_event(
    account: ChannelAccount, *, tag_type: str, change: str, wecom_id: str, fetched: Iterable[CorpTagGroup] = ()
) -> str:
    """Apply a change_external_tag event, with the definitions fetched beforehand (fetch_for_tag_event)."""
    if change == "shuffle":
        return "ignored: order only"
    if change == "delete":
        return _deleted(account, tag_type, wecom_id)
    # A renamed group keeps its Siyu name (group names are Siyu's: renames go Siyu -> WeCom); its tags follow WeCom.
    created = import_groups(account, tuple(fetched))
    return f"{change}: {created} new links"


def _deleted(account: ChannelAccount, tag_type: str, wecom_id: str) -> str:
    with _from_wecom(account):
        return _delete_linked(account, tag_type, wecom_id)


def _delete_linked(account: ChannelAccount, tag_type: str, wecom_id: str) -> str:
    if tag_type == "tag_group":
        group_link = TagGroupLink.objects.filter(account=account, wecom_group_id=wecom_id).first()
        if group_link is None:
            return "ignored: unknown group"
        # Deleting a group deletes its tags without per-tag callbacks.
        doomed = list(TagLink.objects.filter(account=account, tag__group_id=group_link.group_id))
        group_link.delete()
    else:
        doomed = list(TagLink.objects.filter(account=account, wecom_tag_id=wecom_id))
    for link in doomed:
        ContactTag.objects.filter(account=account, wecom_tag_id=link.wecom_tag_id).delete()
        tag = Tag.objects.filter(pk=link.tag_id).first()
        link.delete()
        if tag is not None:
            customer_services.delete_tag(tag=tag)
    return f"deleted {len(doomed)} tags"


# ---------------------------------------------------------------------------------------------------------------
# Full sync of definitions, both ways


def sync_tag_definitions(account: ChannelAccount) -> dict[str, int]:
    """Pull every corp tag (creating and linking Siyu tags), drop links WeCom no longer has, push Siyu-only tags."""
    groups = client_for(account).get_corp_tag_list()
    with transaction.atomic():
        pulled = import_groups(account, groups)
        alive = {t.id for g in groups for t in g.tags}
        gone = TagLink.objects.filter(account=account).exclude(wecom_tag_id__in=alive)
        dropped = 0
        for link in list(gone):
            _deleted(account, "tag", link.wecom_tag_id)
            dropped += 1
        pushed = _push_definitions(account)
    return {"pulled": pulled, "dropped": dropped, "pushed_groups": pushed}


def _push_definitions(account: ChannelAccount) -> int:
    linked_tags = set(TagLink.objects.filter(account=account).values_list("tag_id", flat=True))
    group_links = dict(TagGroupLink.objects.filter(account=account).values_list("group_id", "wecom_group_id"))
    queued = 0
    for group in customer_queries.tag_library(Scope.hq(account.enterprise_id)):
        names = [t.name for t in group.tags.all() if t.pk not in linked_tags and len(t.name) <= WECOM_NAME_MAX]
        if not names or len(group.name) > WECOM_NAME_MAX:
            continue
        digest = hashlib.sha256("\x1f".join(sorted(names)).encode()).hexdigest()[:16]
        wecom_group = group_links.get(group.pk, "")
        payload: dict[str, Any] = {"tags": names, REF: {"group_id": group.pk}}
        if wecom_group:
            payload["group_id"] = wecom_group
        else:
            payload["group_name"] = group.name
        key = f"add_corp_tag:{account.pk}:{group.pk}:{digest}"
        enqueue_call(account=account, method="add_corp_tag", payload=payload, key=key)
        queued += 1
    return queued


@on_success("add_corp_tag")
def _corp_tags_added(call: OutboundCall, result: dict[str, Any]) -> None:
    account = call.account
    group_id = call.payload.get(REF, {}).get("group_id")
    wecom_group = str(result.get("group_id", ""))
    if group_id and wecom_group:
        TagGroupLink.objects.get_or_create(account=account, group_id=group_id, defaults={"wecom_group_id": wecom_group})
    by_name = {t.name: t.pk for t in Tag.objects.filter(group_id=group_id)}
    for tag in result.get("tags") or ():
        siyu_id = by_name.get(str(tag.get("name", "")))
        if siyu_id is not None and not TagLink.objects.filter(account=account, tag_id=siyu_id).exists():
            TagLink.objects.get_or_create(
                account=account, wecom_tag_id=str(tag.get("id", "")), defaults={"tag_id": siyu_id}
            )


# ---------------------------------------------------------------------------------------------------------------
# Assignments, Siyu -> WeCom


def _follow_pairs(account: ChannelAccount, customer_ids: Sequence[int] | None) -> dict[tuple[str, str], int]:
    """(staff userid, external_userid) -> customer id, for active relationships with a WeCom identity."""
    identities = dict(
        Customer.objects.filter(
            enterprise_id=account.enterprise_id,
            merged_into__isnull=True,
            identities__kind=IdentityKind.WECOM_EXTERNAL_USERID,
        )
        .filter(**({"id__in": customer_ids} if customer_ids is not None else {}))
        .values_list("id", "identities__value")
    )
    rels = Relationship.objects.filter(
        customer_id__in=list(identities), status=RelationshipStatus.ACTIVE
    ).exclude(staff__wecom_userid="").values_list("customer_id", "staff__wecom_userid")
    return {(userid, identities[cid]): cid for cid, userid in rels}


def push_account_tags(account: ChannelAccount, *, customer_ids: Sequence[int] | None = None, limit: int = 5000) -> int:
    """Queue mark_tag for every follow relation whose linked tags differ between Siyu and WeCom's last word."""
    link_map = links(account)
    siyu_to_wecom = {v: k for k, v in link_map.items()}
    pairs = _follow_pairs(account, customer_ids)
    wanted: dict[int, set[str]] = defaultdict(set)
    for cid, tag_id in CustomerTag.objects.filter(
        customer_id__in={c for c in pairs.values()}, tag_id__in=list(siyu_to_wecom)
    ).values_list("customer_id", "tag_id"):
        wanted[cid].add(siyu_to_wecom[tag_id])
    known: dict[tuple[str, str], set[str]] = defaultdict(set)
    for userid, ext, tag in ContactTag.objects.filter(
        account=account, external_userid__in={p[1] for p in pairs}
    ).values_list("userid", "external_userid", "wecom_tag_id"):
        known[(userid, ext)].add(tag)
    busy = _pairs_in_flight(account)
    queued = 0
    for (userid, ext), cid in sorted(pairs.items()):
        add, remove = wanted[cid] - known[(userid, ext)], (known[(userid, ext)] & set(link_map)) - wanted[cid]
        if (add or remove) and (userid, ext) not in busy and queued < limit:
            queue_mark_tag(account, userid=userid, external_userid=ext, add=sorted(add), remove=sorted(remove))
            queued += 1
    return queued


def _pairs_in_flight(account: ChannelAccount) -> set[tuple[str, str]]:
    pending = OutboundCall.objects.filter(
        account=account, method="mark_tag", status__in=[CallStatus.PENDING, CallStatus.RETRYING, CallStatus.RUNNING]
    ).values_list("payload", flat=True)
    return {(p.get("userid", ""), p.get("external_userid", "")) for p in pending}


def _base_version(account: ChannelAccount, userid: str, external_userid: str) -> int:
    found = FollowTagVersion.objects.filter(account=account, userid=userid, external_userid=external_userid)
    return found.values_list("version", flat=True).first() or 0


def _bump_base(account: ChannelAccount, userid: str, external_userid: str) -> None:
    """The merge base of this follow relation changed: later pushes are new facts."""
    FollowTagVersion.objects.bulk_create(
        [FollowTagVersion(account=account, userid=userid, external_userid=external_userid)], ignore_conflicts=True
    )
    FollowTagVersion.objects.filter(account=account, userid=userid, external_userid=external_userid).update(
        version=F("version") + 1
    )


def queue_mark_tag(
    account: ChannelAccount, *, userid: str, external_userid: str, add: Sequence[str], remove: Sequence[str]
) -> OutboundCall:
    """Queue mark_tag, keyed by the fact: this change against this version of the relation's merge base. The same
    push made twice (a callback processed again, a periodic push while the first is in flight) is one call."""
    pair = hashlib.sha256(f"{userid}|{external_userid}".encode()).hexdigest()[:16]
    change = hashlib.sha256(f"{sorted(add)}|{sorted(remove)}".encode()).hexdigest()[:16]
    version = _base_version(account, userid, external_userid)
    return enqueue_call(
        account=account,
        method="mark_tag",
        payload={
            "userid": userid,
            "external_userid": external_userid,
            "add_tag": list(add),
            "remove_tag": list(remove),
        },
        key=f"mark_tag:{account.pk}:{pair}:v{version}:{change}",
    )


@on_success("mark_tag")
def _tags_marked(call: OutboundCall, result: dict[str, Any]) -> None:
    p = call.payload
    _bump_base(call.account, p["userid"], p["external_userid"])
    base = ContactTag.objects.filter(account=call.account, userid=p["userid"], external_userid=p["external_userid"])
    base.filter(wecom_tag_id__in=p.get("remove_tag") or []).delete()
    ContactTag.objects.bulk_create(
        [
            ContactTag(account=call.account, userid=p["userid"], external_userid=p["external_userid"], wecom_tag_id=t)
            for t in p.get("add_tag") or []
        ],
        ignore_conflicts=True,
    )


def push_tags_for(account: ChannelAccount, *, userid: str, external_userid: str, siyu_tag_ids: Iterable[int]) -> None:
    """Right after an add: mark the code's auto tags on WeCom too (the linked ones)."""
    siyu_to_wecom = {v: k for k, v in links(account).items()}
    add = sorted({siyu_to_wecom[t] for t in siyu_tag_ids if t in siyu_to_wecom})
    if add:
        queue_mark_tag(account, userid=userid, external_userid=external_userid, add=add, remove=[])



# ---------------------------------------------------------------------------------------------------------------
# Definitions, Siyu -> WeCom: renames and deletions made in Siyu (customers' tag hook)


def install() -> None:
    customer_services.register_tag_hook("wecom", on_siyu_tag_change)


def on_siyu_tag_change(change: TagChange) -> None:
    """Siyu renamed or deleted a tag or a tag group: queue edit_corp_tag / del_corp_tag on every WeCom account that
    links it, in the change's own transaction (the links are still there: the hook runs before a deletion). A change
    that came from WeCom is not sent back to the account it came from; an unlinked tag makes no call."""
    source = _APPLYING.get()
    if change.kind in ("tag_renamed", "group_renamed"):
        _push_rename(change, source)
    elif change.kind in ("tag_deleted", "group_deleted"):
        _push_delete(change, source)


def _accounts(ids: Iterable[int]) -> dict[int, ChannelAccount]:
    return {a.pk: a for a in ChannelAccount.objects.filter(pk__in=set(ids), kind=AccountKind.WECOM, is_active=True)}


def _push_rename(change: TagChange, source: int | None) -> None:
    rows: Iterable[tuple[int, str]]
    if change.kind == "tag_renamed":
        rows = TagLink.objects.filter(tag_id__in=change.tag_ids).values_list("account_id", "wecom_tag_id")
    else:
        rows = TagGroupLink.objects.filter(group_id=change.group_id).values_list("account_id", "wecom_group_id")
    pairs = [(account_id, wecom_id) for account_id, wecom_id in rows if account_id != source]
    accounts = _accounts(account_id for account_id, _ignored in pairs)
    targets = sorted((account_id, wecom_id) for account_id, wecom_id in pairs if account_id in accounts)
    if not targets:
        return
    if len(change.name) > WECOM_NAME_MAX:
        raise ValidationFailed(
            _("this %(value)s is linked to a WeCom corp tag: names there are at most %(WECOM_NAME_MAX)s characters")
            % {"value": 'tag' if change.kind == 'tag_renamed' else 'tag group', "WECOM_NAME_MAX": WECOM_NAME_MAX},
            field="name", code="wecom_name_too_long",
        )
    for account_id, wecom_id in targets:
        # The fact is "this tag's nth rename, to this name": renaming back and forth is several calls, each once,
        # and the same rename told twice is one.
        digest = hashlib.sha256(f"{wecom_id}|{change.name}".encode()).hexdigest()[:16]
        enqueue_call(
            account=accounts[account_id],
            method="edit_corp_tag",
            payload={"id": wecom_id, "name": change.name},
            key=f"edit_corp_tag:{account_id}:{change.kind}:v{change.version}:{digest}",
        )


def _push_delete(change: TagChange, source: int | None) -> None:
    doomed_tags: dict[int, list[str]] = defaultdict(list)
    for account_id, wecom_id in TagLink.objects.filter(tag_id__in=change.tag_ids).values_list(
        "account_id", "wecom_tag_id"
    ):
        doomed_tags[account_id].append(wecom_id)
    doomed_groups: dict[int, str] = {}
    if change.kind == "group_deleted":
        doomed_groups = dict(
            TagGroupLink.objects.filter(group_id=change.group_id).values_list("account_id", "wecom_group_id")
        )
    accounts = _accounts([*doomed_tags, *doomed_groups])
    for account_id, account in sorted(accounts.items()):
        tag_ids = sorted(doomed_tags.get(account_id, ()))
        ContactTag.objects.filter(account=account, wecom_tag_id__in=tag_ids).delete()  # the merge base forgets them
        if account_id == source:
            continue
        group_ids = [doomed_groups[account_id]] if account_id in doomed_groups else []
        if change.kind == "tag_deleted":
            _forget_emptied_group(account, change, tag_ids)
        if group_ids:
            tag_ids = []  # deleting the group deletes its tags
        if not tag_ids and not group_ids:
            continue
        digest = hashlib.sha256("|".join([*group_ids, "", *tag_ids]).encode()).hexdigest()[:16]
        enqueue_call(
            account=account,
            method="del_corp_tag",
            payload={"tag_ids": tag_ids, "group_ids": group_ids},
            key=f"del_corp_tag:{account_id}:{digest}",
        )


def _forget_emptied_group(account: ChannelAccount, change: TagChange, doomed: Sequence[str]) -> None:
    """WeCom deletes a group whose tags are all deleted: when the group keeps no other linked tag, drop its link
    (a later push finds or creates the group by name; a later pull re-links a group WeCom kept)."""
    others = TagLink.objects.filter(account=account, tag__group_id=change.group_id).exclude(wecom_tag_id__in=doomed)
    if doomed and not others.exists():
        TagGroupLink.objects.filter(account=account, group_id=change.group_id).delete()


def _calls_in_flight(account: ChannelAccount) -> tuple[set[str], set[str]]:
    """WeCom ids with a rename, and with a deletion, that Siyu has queued and WeCom has not yet taken."""
    renaming: set[str] = set()
    deleting: set[str] = set()
    for method, payload in OutboundCall.objects.filter(
        account=account, method__in=["edit_corp_tag", "del_corp_tag"], status__in=IN_FLIGHT
    ).values_list("method", "payload"):
        if method == "edit_corp_tag":
            renaming.add(str(payload.get("id", "")))
        else:
            deleting.update(str(i) for i in [*payload.get("tag_ids", []), *payload.get("group_ids", [])])
    return renaming, deleting


def sync_tags(*, scope: Scope, account_id: int) -> dict[str, int]:
    """Both ways: corp tag definitions (pull, then push Siyu-only tags), then customers' tags Siyu -> WeCom."""
    account = wecom_account(account_id, enterprise_id=scope.enterprise_id)
    try:
        figures = sync_tag_definitions(account)
    except WecomError as exc:
        raise upstream_error(exc) from exc
    with transaction.atomic():
        figures["marked"] = push_account_tags(account)
    return figures


def push_customer_tags(*, scope: Scope, account_id: int, customer_ids: list[int] | None = None) -> int:
    account = wecom_account(account_id, enterprise_id=scope.enterprise_id)
    with transaction.atomic():
        return push_account_tags(account, customer_ids=customer_ids)
