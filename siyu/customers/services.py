"""Every change to customers, identities, relationships, tags and the event log goes through these functions."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db import DatabaseError, IntegrityError, connection, connections, transaction
from django.db.models import F, Field, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_
from pydantic import ValidationError as PydanticValidationError

from siyu.core import audit, dberrors
from siyu.core.audit import Actor, user_of
from siyu.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from siyu.customers import events as event_types
from siyu.customers import queries
from siyu.customers.models import (
    Channel,
    Customer,
    CustomerMerge,
    CustomerTag,
    Event,
    Gender,
    Identity,
    IdentityKind,
    Relationship,
    RelationshipStatus,
    Tag,
    TagGroup,
    TagKind,
)
from siyu.customers.validation import normalize_phone
from siyu.org.models import Staff, Store
from siyu.org.scope import Scope

MAX_EVENT_BATCH = 5000
MAX_BULK_TAG = 10000


@dataclass(frozen=True)
class IdentityInput:
    kind: str
    value: str
    account: str = ""


@dataclass(frozen=True)
class EventInput:
    name: str
    occurred_at: datetime
    idempotency_key: str
    customer_id: int | None = None
    identity: IdentityInput | None = None
    channel: str = ""
    store_id: int | None = None
    staff_id: int | None = None
    campaign: str = ""
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IngestResult:
    created: int
    duplicates: int


# ---------------------------------------------------------------------------------------------------------------
# Customers and identities


def _check_identity(identity: IdentityInput, *, index: int | None = None) -> IdentityInput:
    if identity.kind not in IdentityKind.values:
        raise ValidationFailed(
            _("unknown identity kind %(kind)s") % {"kind": repr(identity.kind)},
            field="kind", index=index,
            code="unknown_identity_kind",
        )
    value = identity.value.strip()
    if not value or len(value) > 128:
        raise ValidationFailed(_("identity value must be 1-128 characters"), field="value", index=index,
                               code="value_length")
    if identity.kind == IdentityKind.PHONE:
        value = normalize_phone(value, field="value", index=index)
    return IdentityInput(kind=identity.kind, value=value, account=identity.account)


def _identity_taken(
    identity: IdentityInput, owner_id: int, index: int, visible_customers: Iterable[int] | None
) -> Conflict:
    """The refusal names the holder only to a caller who may see that customer. Anyone else (store staff adding a
    phone held by another store's customer) gets the same words whoever holds it and wherever: no id, no store, no
    name; a manager who sees both can merge them."""
    if visible_customers is None or Customer.objects.filter(pk=owner_id, id__in=visible_customers).exists():
        message = f"{identity.kind} {identity.value} already belongs to customer {owner_id}"
    else:
        message = f"{identity.kind} {identity.value} already belongs to another customer; ask a manager to merge them"
    return Conflict(message, field="identities", index=index, code="identity_taken")


def _claim_identities(
    customer: Customer, identities: Iterable[IdentityInput], *, visible_customers: Iterable[int] | None = None
) -> None:
    """Give these identities to `customer`, within its enterprise only. `visible_customers` (the caller's scope)
    decides whether a refusal may name the current holder; None means a trusted caller that sees the enterprise."""
    for index, raw in enumerate(identities):
        identity = _check_identity(raw, index=index)
        owner = Identity.objects.filter(
            enterprise_id=customer.enterprise_id, kind=identity.kind, value=identity.value
        ).values_list("customer_id", flat=True)
        owner_id = owner.first()
        if owner_id is not None and owner_id != customer.pk:
            raise _identity_taken(identity, owner_id, index, visible_customers)
        if owner_id is None:
            Identity.objects.create(
                enterprise_id=customer.enterprise_id, customer=customer, kind=identity.kind, value=identity.value,
                account=identity.account,
            )


@transaction.atomic
def create_customer(
    *,
    enterprise_id: int,
    name: str = "",
    phone: str = "",
    gender: str = Gender.UNKNOWN,
    birthday: date | None = None,
    region: str = "",
    created_source: str = Channel.API,
    home_store_id: int | None = None,
    identities: Sequence[IdentityInput] = (),
    created_at: datetime | None = None,
    actor: Actor = None,
    visible_customers: Iterable[int] | None = None,
) -> Customer:
    """`visible_customers` is the caller's scope (None: trusted, sees the enterprise); it only decides what a refusal
    says about an identity's current holder."""
    fields = _clean_profile(
        enterprise_id=enterprise_id,
        values={
            "name": name,
            "phone": phone,
            "gender": gender,
            "birthday": birthday,
            "region": region,
            "created_source": created_source,
            "home_store_id": home_store_id,
        },
    )
    if not (fields["name"].strip() or fields["phone"] or identities):
        # a customer nobody can recognise or reach would only pollute the pool
        raise DomainError(_("a customer needs a name, a phone or an identity"), field="name", code="required")
    moment = created_at or timezone.now()
    customer = Customer.objects.create(enterprise_id=enterprise_id, created_at=moment, **fields)
    wanted = list(identities)
    if customer.phone:
        wanted.append(IdentityInput(kind=IdentityKind.PHONE, value=customer.phone))
    _claim_identities(customer, _dedupe_identities(wanted), visible_customers=visible_customers)
    Event.objects.create(
        enterprise_id=enterprise_id,
        customer=customer,
        name="customer_created",
        occurred_at=moment,
        channel=customer.created_source,
        store_id=customer.home_store_id,
        idempotency_key=f"customer_created:{customer.pk}",
    )
    audit.record(enterprise_id=enterprise_id,
                 actor=actor, action="customer.create", target_type="customer", target_id=customer.pk)
    return customer


@dataclass(frozen=True)
class PhoneCustomerInput:
    phone: str  # normalized (customers.validation.normalize_phone)
    home_store_id: int | None
    created_at: datetime


def create_customers_by_phone(*, enterprise_id: int, people: Sequence[PhoneCustomerInput],
                              created_source: str) -> dict[str, int]:
    """A customer for each phone nobody in the enterprise has, set-based (an import's batch of buyers it does not
    know): one query for the phones already held, one bulk insert each of customers, phone identities and their
    `customer_created` events. Returns phone -> customer id for every phone given (the holder's when one exists).
    The first entry of a phone gives its store and time. A phone a concurrent writer claims between the look-up
    and the insert rolls this step back to its savepoint and each phone is resolved one at a time instead."""
    first: dict[str, PhoneCustomerInput] = {}
    for person in people:
        first.setdefault(person.phone, person)
    if not first:
        return {}
    held = dict(Identity.objects.filter(enterprise_id=enterprise_id, kind=IdentityKind.PHONE,
                                        value__in=list(first)).values_list("value", "customer_id"))
    fresh = [p for phone, p in first.items() if phone not in held]
    if not fresh:
        return held
    try:
        with transaction.atomic():
            created = Customer.objects.bulk_create([
                Customer(enterprise_id=enterprise_id, phone=p.phone, created_source=created_source,
                         home_store_id=p.home_store_id, created_at=p.created_at) for p in fresh])
            Identity.objects.bulk_create([
                Identity(enterprise_id=enterprise_id, customer_id=c.pk, kind=IdentityKind.PHONE, value=c.phone)
                for c in created])
            Event.objects.bulk_create([
                Event(enterprise_id=enterprise_id, customer_id=c.pk, name="customer_created", occurred_at=c.created_at,
                      channel=created_source, store_id=c.home_store_id, idempotency_key=f"customer_created:{c.pk}")
                for c in created])
    except IntegrityError:
        for p in fresh:
            held[p.phone] = resolve_customer(
                enterprise_id=enterprise_id, identities=[IdentityInput(kind=IdentityKind.PHONE, value=p.phone)],
                defaults={"created_source": created_source, "phone": p.phone, "home_store_id": p.home_store_id,
                          "created_at": p.created_at}).pk
        return held
    held.update((c.phone, c.pk) for c in created)
    return held


def _dedupe_identities(identities: Iterable[IdentityInput]) -> list[IdentityInput]:
    seen: set[tuple[str, str]] = set()
    out = []
    for identity in identities:
        if (identity.kind, identity.value) not in seen:
            seen.add((identity.kind, identity.value))
            out.append(identity)
    return out


def _clean_name(value: Any, enterprise_id: int) -> Any:
    if value is not None and len(value) > 64:
        raise ValidationFailed(_("name is at most 64 characters"), field="name", code="name_length")
    return (value or "").strip()


def _clean_gender(value: Any, enterprise_id: int) -> Any:
    if value not in Gender.values:
        raise ValidationFailed(_("gender must be one of %(join)s") % {"join": ', '.join(Gender.values)}, field="gender",
                               code="unknown_gender")
    return value


def _clean_source(value: Any, enterprise_id: int) -> Any:
    if value not in Channel.values:
        raise ValidationFailed(_("unknown source %(value)s") % {"value": repr(value)}, field="created_source",
                               code="unknown_source")
    return value


def _clean_store(value: Any, enterprise_id: int) -> Any:
    if value is not None and not Store.objects.filter(id=value, enterprise_id=enterprise_id).exists():
        raise ValidationFailed(_("store %(value)s does not exist") % {"value": value}, field="home_store_id",
                               code="unknown_store")
    return value


def _clean_birthday(value: Any, enterprise_id: int) -> Any:
    if value is not None and value > timezone.localdate():
        raise ValidationFailed(_("birthday cannot be in the future"), field="birthday", code="birthday_future")
    return value


_PROFILE_CLEANERS: dict[str, Callable[[Any, int], Any]] = {
    "name": _clean_name,
    "phone": lambda value, _e: normalize_phone(value) if value else "",
    "gender": _clean_gender,
    "created_source": _clean_source,
    "home_store_id": _clean_store,
    "birthday": _clean_birthday,
    "region": lambda value, _e: (value or "")[:64],
}


def _clean_profile(*, enterprise_id: int, values: dict[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, value in values.items():
        cleaner = _PROFILE_CLEANERS.get(key)
        if cleaner is None:
            raise ValidationFailed(_("unknown field %(key)s") % {"key": repr(key)}, field=key, code="unknown_field")
        clean[key] = cleaner(value, enterprise_id)
    return clean


@transaction.atomic
def update_customer(
    *, customer: Customer, changes: dict[str, Any], actor: Actor = None, visible_customers: Iterable[int] | None = None
) -> Customer:
    clean = _clean_profile(enterprise_id=customer.enterprise_id, values=changes)
    before = {key: str(getattr(customer, key)) for key in clean}
    if "phone" in clean and clean["phone"] and clean["phone"] != customer.phone:
        phone = IdentityInput(kind=IdentityKind.PHONE, value=clean["phone"])
        _claim_identities(customer, [phone], visible_customers=visible_customers)
    for key, value in clean.items():
        setattr(customer, key, value)
    customer.save()
    audit.record(
        enterprise_id=customer.enterprise_id,
        actor=actor,
        action="customer.update",
        target_type="customer",
        target_id=customer.pk,
        changes={key: [before[key], str(value)] for key, value in clean.items() if before[key] != str(value)},
    )
    return customer


@transaction.atomic
def attach_identity(
    *, customer: Customer, identity: IdentityInput, actor: Actor = None, visible_customers: Iterable[int] | None = None
) -> Identity:
    _claim_identities(customer, [identity], visible_customers=visible_customers)
    clean = _check_identity(identity)
    audit.record(
        enterprise_id=customer.enterprise_id,
        actor=actor,
        action="customer.identity",
        target_type="customer",
        target_id=customer.pk,
        summary=audit.text(N_("%(kind)s: %(value)s"), kind=audit.label(IdentityKind(clean.kind).label),
                           value=clean.value),
    )
    return Identity.objects.get(enterprise_id=customer.enterprise_id, kind=clean.kind, value=clean.value)


def find_by_identity(*, enterprise_id: int, kind: str, value: str) -> Customer | None:
    return (
        Customer.objects.filter(
            enterprise_id=enterprise_id,
            identities__enterprise_id=enterprise_id,
            identities__kind=kind,
            identities__value=value,
        )
        .select_related(None)
        .first()
    )


RESOLVE_ATTEMPTS = 3


class _OwnersMoved(Exception):
    """A customer owning one of the identities was merged away while this resolve waited for its lock."""


def resolve_customer(
    *,
    enterprise_id: int,
    identities: Sequence[IdentityInput],
    defaults: dict[str, Any] | None = None,
    actor: Actor = None,
) -> Customer:
    """Find the one customer behind these identities, creating or merging as needed (channels call this).

    Identities that point to different customers are the same person when they share a unionid or a phone: those
    customers are merged into the oldest one, unless two of them carry conflicting strong identities (two people:
    see queries.merge_conflicts), which stay apart, each keeping its own identities.

    Safe against a concurrent resolve of the same person: the owners are locked in id order, and the loser of a
    race to create (a uniqueness violation) starts again from its savepoint and finds the winner's customer.
    """
    clean = _dedupe_identities(_check_identity(identity) for identity in identities)
    if not clean:
        raise ValidationFailed(_("at least one identity is needed"), field="identities",
                               code="identity_required")
    for attempt in range(1, RESOLVE_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                return _resolve(enterprise_id, clean, dict(defaults or {}), actor)
        except (IntegrityError, _OwnersMoved):
            if attempt == RESOLVE_ATTEMPTS:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _owners(enterprise_id: int, identities: Sequence[IdentityInput]) -> dict[tuple[str, str], int]:
    query = Q()
    for identity in identities:
        query |= Q(kind=identity.kind, value=identity.value)
    rows = Identity.objects.filter(query, enterprise_id=enterprise_id).values_list("kind", "value", "customer_id")
    return {(kind, value): customer_id for kind, value, customer_id in rows}


def _resolve(
    enterprise_id: int, clean: list[IdentityInput], defaults: dict[str, Any], actor: Actor
) -> Customer:
    owners = _owners(enterprise_id, clean)
    ids = sorted(set(owners.values()))
    if not ids:
        try:
            return create_customer(enterprise_id=enterprise_id, identities=clean, actor=actor, **defaults)
        except Conflict:
            if _owners(enterprise_id, clean):
                raise _OwnersMoved from None  # a concurrent resolve created this person just now: find it
            raise
    locked = lock_customers(ids)
    if len(locked) != len(ids) or any(c.merged_into_id is not None for c in locked.values()):
        raise _OwnersMoved
    survivor_id = ids[0]
    primary = owners.get((clean[0].kind, clean[0].value))
    if primary is not None and primary != survivor_id and queries.merge_conflicts(survivor_id, primary):
        survivor_id = primary  # two people: the customer of the identity the channel leads with is the answer
    for other_id in ids:
        if other_id != survivor_id and not queries.merge_conflicts(survivor_id, other_id):
            _merge(survivor_id, other_id, reason="identity", actor=actor)
    owned = _owners(enterprise_id, clean)
    survivor = Customer.objects.get(pk=survivor_id)
    free = [i for i in clean if owned.get((i.kind, i.value)) in (None, survivor_id)]
    try:
        _claim_identities(survivor, free)
    except Conflict:
        if set(_owners(enterprise_id, free).values()) - {survivor_id}:
            raise _OwnersMoved from None  # a concurrent resolve claimed one of them just now: start again
        raise
    return survivor


# ---------------------------------------------------------------------------------------------------------------
# Merge

MergeStep = Callable[[int, int], int]
_MERGE_STEPS: dict[str, MergeStep] = {}


def register_merge_step(name: str, step: MergeStep) -> None:
    """Other apps that point at customers (orders, points, coupons) register how their rows move on a merge.

    A step gets (absorbed_id, survivor_id), moves its rows set-based and returns how many it moved.
    """
    _MERGE_STEPS[name] = step


def _move_unique_children(model: Any, key: str, absorbed_id: int, survivor_id: int) -> int:
    """Move rows unique per (customer, key); where the survivor already has one, the absorbed row is dropped."""
    clash = model.objects.filter(customer_id=survivor_id).values_list(key, flat=True)
    model.objects.filter(customer_id=absorbed_id, **{f"{key}__in": clash}).delete()
    return int(model.objects.filter(customer_id=absorbed_id).update(customer_id=survivor_id))


def _merge_relationships(absorbed_id: int, survivor_id: int) -> int:
    """Keep the earlier add for a staff member both customers share, so the first source is not lost."""
    survivor_rels = {r.staff_id: r for r in Relationship.objects.filter(customer_id=survivor_id)}
    moved = 0
    for rel in Relationship.objects.filter(customer_id=absorbed_id):
        kept = survivor_rels.get(rel.staff_id)
        if kept is None:
            rel.customer_id = survivor_id
            rel.save(update_fields=["customer"])
        else:
            if rel.added_at < kept.added_at:
                kept.added_at, kept.state, kept.channel = rel.added_at, rel.state or kept.state, rel.channel
                kept.remark = kept.remark or rel.remark
                if rel.status == RelationshipStatus.ACTIVE:
                    kept.status = RelationshipStatus.ACTIVE
                kept.save()
            rel.delete()
        moved += 1
    return moved


def lock_customers(ids: Iterable[int]) -> dict[int, Customer]:
    """Lock customer rows (select_for_update) in id order, the one order every merge and resolve takes them in, and
    return them as read under the lock."""
    rows = Customer.objects.select_for_update().filter(pk__in=sorted(set(ids))).order_by("pk")
    return {c.pk: c for c in rows}


def merge_customers(
    *,
    survivor: Customer,
    absorbed: Customer,
    reason: str,
    actor: Actor = None,
    force: bool = False,
    force_reason: str = "",
) -> CustomerMerge:
    """Merge `absorbed` into `survivor`: identities, tags, relationships, events and every registered app's rows move.

    Both rows are locked in id order and read again under the lock, so two merges of one pair in opposite directions
    cannot both pass (the second finds one side merged: 409 already_merged), and a merge never makes a cycle.
    Customers carrying different values of a strong identity (unionid; external_userid of one corp; openid of one
    app) are two people: the merge is refused (409 merge_conflict) unless forced with a reason (HQ; audited).
    Profile fields follow queries.PROFILE_RULE, exclusive tag groups queries.EXCLUSIVE_TAG_RULE (the survivor's tag
    wins). A concurrent change that the database refuses (a deadlock, a uniqueness race) is a 409, never a 500.
    """
    force_reason = force_reason.strip()
    if force and not force_reason:
        raise ValidationFailed(_("a forced merge needs a reason"), field="force_reason", code="required")
    if len(force_reason) > 255:
        raise ValidationFailed(_("the reason is at most 255 characters"), field="force_reason",
                               code="reason_length")
    try:
        record, fresh_survivor, fresh_absorbed = _merge(
            survivor.pk, absorbed.pk, reason=reason, actor=actor, force=force, force_reason=force_reason
        )
    except DatabaseError as exc:
        if not dberrors.is_contention(exc):
            raise
        raise Conflict(
            _("these customers were changed at the same time by another request; try again"),
            field="absorbed_id", code="merge_busy",
        ) from exc
    for caller, fresh in ((survivor, fresh_survivor), (absorbed, fresh_absorbed)):
        for f in Customer._meta.concrete_fields:
            setattr(caller, f.attname, getattr(fresh, f.attname))
    return record


@transaction.atomic
def _merge(
    survivor_id: int, absorbed_id: int, *, reason: str, actor: Actor, force: bool = False, force_reason: str = ""
) -> tuple[CustomerMerge, Customer, Customer]:
    if survivor_id == absorbed_id:
        raise ValidationFailed(_("cannot merge a customer into itself"), field="absorbed_id",
                               code="merge_customer_into_itself")
    locked = lock_customers([survivor_id, absorbed_id])
    survivor, absorbed = locked.get(survivor_id), locked.get(absorbed_id)
    if survivor is None or absorbed is None:
        raise NotFound(_("customer not found"), field="absorbed_id" if survivor is not None else "survivor_id")
    if survivor.enterprise_id != absorbed.enterprise_id:
        raise ValidationFailed(_("customers belong to different enterprises"), field="absorbed_id",
                               code="other_enterprise")
    if absorbed.merged_into_id is not None or survivor.merged_into_id is not None:
        raise Conflict(_("one of these customers was already merged"), field="absorbed_id", code="already_merged")
    conflicts = queries.merge_conflicts(survivor.pk, absorbed.pk)
    if conflicts and not force:
        kinds = ", ".join(dict.fromkeys(c.kind for c in conflicts))
        raise Conflict(
            _("these customers look like two people: they carry different %(kinds)s; only HQ may force this "
              "merge, with a reason") % {"kinds": kinds},
            field="absorbed_id", code="merge_conflict",
        )
    snapshot = {
        "name": absorbed.name,
        "phone": absorbed.phone,
        "gender": absorbed.gender,
        "birthday": absorbed.birthday.isoformat() if absorbed.birthday else None,
        "region": absorbed.region,
        "created_source": absorbed.created_source,
        "created_at": absorbed.created_at.isoformat(),
        "identities": list(absorbed.identities.values_list("kind", "value")),
    }
    dropped, _ignored = queries.losing_exclusive_tags(survivor.pk, absorbed.pk).delete()
    moved = {
        "identities": Identity.objects.filter(customer=absorbed).update(customer=survivor),
        "tags": _move_unique_children(CustomerTag, "tag_id", absorbed.pk, survivor.pk),
        "exclusive_tags_dropped": dropped,
        "relationships": _merge_relationships(absorbed.pk, survivor.pk),
        "events": Event.objects.filter(customer=absorbed).update(customer=survivor),
    }
    for name, step in _MERGE_STEPS.items():
        moved[name] = step(absorbed.pk, survivor.pk)
    _fill_blank_profile(survivor, absorbed)
    absorbed.merged_into = survivor
    absorbed.phone = ""
    absorbed.save(update_fields=["merged_into", "phone", "updated_at"])
    record = CustomerMerge.objects.create(
        survivor=survivor,
        absorbed_id=absorbed.pk,
        absorbed_snapshot=snapshot,
        moved=moved,
        reason=reason,
        force_reason=force_reason if conflicts else "",
        actor=user_of(actor),
    )
    Event.objects.create(
        enterprise_id=survivor.enterprise_id,
        customer=survivor,
        name="customer_merged",
        occurred_at=timezone.now(),
        properties={"absorbed_id": absorbed.pk, "reason": reason},
        idempotency_key=f"customer_merged:{absorbed.pk}",
    )
    changes: dict[str, Any] = {"moved": moved}
    if conflicts:
        changes["forced"] = {"reason": force_reason, "conflicts": list(dict.fromkeys(c.kind for c in conflicts))}
    audit.record(
        enterprise_id=survivor.enterprise_id,
        actor=actor,
        action="customer.merge",
        target_type="customer",
        target_id=survivor.pk,
        summary=(audit.text(N_("merged #%(absorbed)s (%(reason)s, forced)"), absorbed=absorbed.pk, reason=reason)
                 if conflicts else audit.text(N_("merged #%(absorbed)s (%(reason)s)"), absorbed=absorbed.pk,
                                              reason=reason)),
        changes=changes,
    )
    return record, survivor, absorbed


def _fill_blank_profile(survivor: Customer, absorbed: Customer) -> None:
    """Apply queries.PROFILE_RULE (the merge preview shows the same outcome)."""
    changed = []
    for kept in queries.merged_profile(survivor, absorbed):
        if kept.source == "absorbed":
            setattr(survivor, kept.field, kept.value)
            changed.append(kept.field)
    if changed:
        survivor.save()


# ---------------------------------------------------------------------------------------------------------------
# Relationships


@transaction.atomic
def add_relationship(
    *,
    customer: Customer,
    staff: Staff,
    added_at: datetime,
    channel: str = Channel.WECOM,
    state: str = "",
    remark: str = "",
    previous_staff: Staff | None = None,
) -> Relationship:
    """Record that a staff member follows a customer; re-adding after a delete reactivates the same row.

    `previous_staff` is the staff member the customer was inherited from (离职/在职继承).
    """
    rel, created = Relationship.objects.get_or_create(
        customer=customer,
        staff=staff,
        defaults={
            "added_at": added_at,
            "channel": channel,
            "state": state,
            "remark": remark,
            "previous_staff": previous_staff,
        },
    )
    if not created and rel.status != RelationshipStatus.ACTIVE:
        rel.status = RelationshipStatus.ACTIVE
        rel.status_changed_at = added_at
        rel.state = state or rel.state
        rel.previous_staff = previous_staff or rel.previous_staff
        rel.save()
    return rel


@transaction.atomic
def end_relationship(*, customer: Customer, staff: Staff, status: str, at: datetime) -> Relationship | None:
    if status not in RelationshipStatus.values or status == RelationshipStatus.ACTIVE:
        raise ValidationFailed(_("not an ending status: %(status)s") % {"status": repr(status)}, field="status",
                               code="not_ending_status")
    rel = Relationship.objects.filter(customer=customer, staff=staff).first()
    if rel is None:
        return None
    rel.status = status
    rel.status_changed_at = at
    rel.save(update_fields=["status", "status_changed_at"])
    return rel


# ---------------------------------------------------------------------------------------------------------------
# Tags


@dataclass(frozen=True)
class TagChange:
    """A tag or tag group renamed or deleted, told to the apps that mirror the tag library elsewhere (WeCom)."""

    kind: str  # tag_renamed | tag_deleted | group_renamed | group_deleted
    enterprise_id: int
    group_id: int
    tag_ids: tuple[int, ...]  # the tags concerned: for a group, all of its tags
    name: str = ""  # the new name, for a rename
    version: int = 0  # the tag's (or group's) version after a rename: the fact a mirror's push is keyed by


TagHook = Callable[[TagChange], None]
_TAG_HOOKS: dict[str, TagHook] = {}


def register_tag_hook(name: str, hook: TagHook) -> None:
    """Apps that mirror tags register here at AppConfig.ready (as with register_merge_step). A hook runs inside the
    change's transaction, before a deletion (its links to the tag still readable); it records work (an outbox row)
    rather than calling out, and may raise a DomainError to refuse the change."""
    _TAG_HOOKS[name] = hook


def _tag_changed(change: TagChange) -> None:
    for hook in _TAG_HOOKS.values():
        hook(change)


@transaction.atomic
def create_tag_group(*, enterprise_id: int, name: str, exclusive: bool = False, actor: Actor = None) -> TagGroup:
    name = name.strip()
    if not name or len(name) > 64:
        raise ValidationFailed(_("tag group name must be 1-64 characters"), field="name", code="name_length")
    if TagGroup.objects.filter(enterprise_id=enterprise_id, name=name).exists():
        raise Conflict(_("tag group %(name)s already exists") % {"name": repr(name)}, field="name", code="duplicate")
    group = TagGroup.objects.create(enterprise_id=enterprise_id, name=name, exclusive=exclusive)
    audit.record(enterprise_id=enterprise_id,
                 actor=actor, action="tag_group.create", target_type="tag_group", target_id=group.pk, summary=name)
    return group


@transaction.atomic
def create_tag(
    *, group: TagGroup, name: str, kind: str = TagKind.MANUAL, rule: dict[str, Any] | None = None, actor: Actor = None
) -> Tag:
    name = name.strip()
    if not name or len(name) > 64:
        raise ValidationFailed(_("tag name must be 1-64 characters"), field="name", code="name_length")
    if kind not in TagKind.values:
        raise ValidationFailed(_("kind must be one of %(join)s") % {"join": ', '.join(TagKind.values)}, field="kind",
                               code="unknown_kind")
    if Tag.objects.filter(group=group, name=name).exists():
        raise Conflict(
            _("tag %(name)s already exists in %(name2)s") % {"name": repr(name), "name2": group.name},
            field="name", code="duplicate",
        )
    tag = Tag.objects.create(group=group, name=name, kind=kind, rule=rule or {})
    audit.record(enterprise_id=group.enterprise_id,
                 actor=actor, action="tag.create", target_type="tag", target_id=tag.pk, summary=f"{group.name}/{name}")
    return tag


@transaction.atomic
def rename_tag(*, tag: Tag, name: str, actor: Actor = None) -> Tag:
    name = name.strip()
    if not name or len(name) > 64:
        raise ValidationFailed(_("tag name must be 1-64 characters"), field="name", code="name_length")
    if name == tag.name:
        return tag
    if Tag.objects.filter(group_id=tag.group_id, name=name).exclude(pk=tag.pk).exists():
        raise Conflict(
            _("tag %(name)s already exists in this group") % {"name": repr(name)},
            field="name", code="duplicate",
        )
    old, tag.name = tag.name, name
    Tag.objects.filter(pk=tag.pk).update(name=name, version=F("version") + 1)  # counted in the row, not the object
    tag.version = Tag.objects.values_list("version", flat=True).get(pk=tag.pk)
    _tag_changed(TagChange("tag_renamed", tag.group.enterprise_id, tag.group_id, (tag.pk,), name, tag.version))
    audit.record(enterprise_id=tag.group.enterprise_id,
                 actor=actor, action="tag.rename", target_type="tag", target_id=tag.pk, summary=f"{old} → {name}")
    return tag


@transaction.atomic
def delete_tag(*, tag: Tag, actor: Actor = None) -> int:
    """Delete a tag and its customer links; returns how many customers carried it."""
    carried = CustomerTag.objects.filter(tag=tag).count()
    _tag_changed(TagChange("tag_deleted", tag.group.enterprise_id, tag.group_id, (tag.pk,)))
    audit.record(
        enterprise_id=tag.group.enterprise_id,
        actor=actor, action="tag.delete", target_type="tag", target_id=tag.pk, summary=f"{tag.name} ({carried})"
    )
    tag.delete()
    return carried


@transaction.atomic
def rename_tag_group(*, group: TagGroup, name: str, actor: Actor = None) -> TagGroup:
    name = name.strip()
    if not name or len(name) > 64:
        raise ValidationFailed(_("tag group name must be 1-64 characters"), field="name", code="name_length")
    if name == group.name:
        return group
    if TagGroup.objects.filter(enterprise_id=group.enterprise_id, name=name).exclude(pk=group.pk).exists():
        raise Conflict(_("tag group %(name)s already exists") % {"name": repr(name)}, field="name", code="duplicate")
    old, group.name = group.name, name
    TagGroup.objects.filter(pk=group.pk).update(name=name, version=F("version") + 1)
    group.version = TagGroup.objects.values_list("version", flat=True).get(pk=group.pk)
    tag_ids = tuple(Tag.objects.filter(group=group).values_list("id", flat=True))
    _tag_changed(TagChange("group_renamed", group.enterprise_id, group.pk, tag_ids, name, group.version))
    audit.record(
        enterprise_id=group.enterprise_id,
        actor=actor, action="tag_group.rename", target_type="tag_group", target_id=group.pk, summary=f"{old} → {name}"
    )
    return group


@transaction.atomic
def delete_tag_group(*, group: TagGroup, actor: Actor = None) -> int:
    """Delete a group with its tags and their customer links; returns how many customer-tag links went."""
    tag_ids = tuple(Tag.objects.filter(group=group).values_list("id", flat=True))
    carried = CustomerTag.objects.filter(tag__group=group).count()
    _tag_changed(TagChange("group_deleted", group.enterprise_id, group.pk, tag_ids))
    audit.record(
        enterprise_id=group.enterprise_id,
        actor=actor, action="tag_group.delete", target_type="tag_group", target_id=group.pk,
        summary=audit.ntext(N_("%(name)s (%(count)s tag, %(carried)s on customers)"),
                            N_("%(name)s (%(count)s tags, %(carried)s on customers)"), len(tag_ids),
                            name=group.name, carried=carried),
    )
    group.delete()
    return carried


def _resolve_tags(enterprise_id: int, tag_ids: Sequence[int]) -> list[Tag]:
    if not tag_ids:
        raise ValidationFailed(_("name at least one tag"), field="tag_ids", code="tags_required")
    found = Tag.objects.filter(id__in=tag_ids, group__enterprise_id=enterprise_id).select_related("group")
    tags = {t.pk: t for t in found}
    for index, tag_id in enumerate(tag_ids):
        if tag_id not in tags:
            raise NotFound(
                _("unknown tag %(tag_id)s") % {"tag_id": tag_id},
                field="tag_ids", index=index, code="unknown_tag",
            )
    exclusive_groups = [t.group_id for t in tags.values() if t.group.exclusive]
    if len(exclusive_groups) != len(set(exclusive_groups)):
        raise ValidationFailed(_("two tags of one mutually exclusive group"), field="tag_ids", code="exclusive_group")
    return list(tags.values())


def _check_customers(enterprise_id: int, customer_ids: Sequence[int], allowed: Iterable[int] | None) -> list[int]:
    if not customer_ids:
        raise ValidationFailed(_("name at least one customer"), field="customer_ids", code="customers_required")
    if len(customer_ids) > MAX_BULK_TAG:
        raise ValidationFailed(
            _("at most %(MAX_BULK_TAG)s customers per call") % {"MAX_BULK_TAG": MAX_BULK_TAG},
            field="customer_ids",
            code="too_many_customers",
        )
    wanted = list(dict.fromkeys(customer_ids))
    qs = Customer.objects.filter(id__in=wanted, enterprise_id=enterprise_id, merged_into__isnull=True)
    if allowed is not None:
        qs = qs.filter(id__in=allowed)
    found = set(qs.values_list("id", flat=True))
    for index, customer_id in enumerate(customer_ids):
        if customer_id not in found:
            raise NotFound(
                _("unknown customer %(customer_id)s") % {"customer_id": customer_id},
                field="customer_ids", index=index,
            )
    return wanted


@transaction.atomic
def tag_customers(
    *,
    enterprise_id: int,
    customer_ids: Sequence[int],
    tag_ids: Sequence[int],
    source: str = TagKind.MANUAL,
    visible_customers: Iterable[int] | None = None,
    actor: Actor = None,
) -> int:
    """Tag many customers at once (set-based). A tag of an exclusive group replaces its siblings. Returns rows added."""
    tags = _resolve_tags(enterprise_id, tag_ids)
    ids = _check_customers(enterprise_id, customer_ids, visible_customers)
    exclusive = [t for t in tags if t.group.exclusive]
    for tag in exclusive:
        CustomerTag.objects.filter(customer_id__in=ids, tag__group_id=tag.group_id).exclude(tag_id=tag.pk).delete()
    existing = set(CustomerTag.objects.filter(customer_id__in=ids, tag__in=tags).values_list("customer_id", "tag_id"))
    user = user_of(actor)
    rows = [
        CustomerTag(customer_id=cid, tag_id=tag.pk, source=source, added_by=user)
        for cid in ids
        for tag in tags
        if (cid, tag.pk) not in existing
    ]
    when = _db_when(timezone.now())
    _fast_insert(CustomerTag, ("customer", "tag", "source", "added_by", "created_at"),
                 [(r.customer_id, r.tag_id, source, r.added_by_id, when) for r in rows])
    _tag_events(enterprise_id, rows, "tag_added", {t.pk: t.name for t in tags})
    audit.record(
        enterprise_id=enterprise_id,
        actor=actor,
        action="customer.tag",
        target_type="tag",
        target_id=",".join(str(t.pk) for t in tags),
        summary=audit.ntext(N_("tagged %(count)s customer with %(tags)s"),
                            N_("tagged %(count)s customers with %(tags)s"),
                            len(ids), tags=", ".join(t.name for t in tags)),
        changes={"customer_ids": ids[:100], "count": len(rows)},
    )
    return len(rows)


@transaction.atomic
def untag_customers(
    *,
    enterprise_id: int,
    customer_ids: Sequence[int],
    tag_ids: Sequence[int],
    visible_customers: Iterable[int] | None = None,
    actor: Actor = None,
) -> int:
    tags = _resolve_tags(enterprise_id, tag_ids)
    ids = _check_customers(enterprise_id, customer_ids, visible_customers)
    doomed = CustomerTag.objects.filter(customer_id__in=ids, tag__in=tags)
    rows = list(doomed.only("customer_id", "tag_id"))
    doomed.delete()
    _tag_events(enterprise_id, rows, "tag_removed", {t.pk: t.name for t in tags})
    audit.record(
        enterprise_id=enterprise_id,
        actor=actor,
        action="customer.untag",
        target_type="tag",
        target_id=",".join(str(t.pk) for t in tags),
        summary=audit.ntext(N_("untagged %(count)s customer-tag pair"), N_("untagged %(count)s customer-tag pairs"),
                            len(rows)),
        changes={"customer_ids": ids[:100], "count": len(rows)},
    )
    return len(rows)


def _fast_insert(model: Any, fields: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Rows without the ORM's per-object compiling (the journeys runner tags a thousand customers at a time), a
    repeat of a unique key skipped: SQLite runs one prepared INSERT by executemany (in C); PostgreSQL takes
    multi-row VALUES. Values come in adapted (`_db_when`, JSON as text)."""
    if not rows:
        return
    qn = connection.ops.quote_name
    meta = model._meta
    columns = ", ".join(qn(meta.get_field(name).column) for name in fields)
    marks = "(" + ", ".join(["%s"] * len(fields)) + ")"
    head = f"INSERT INTO {qn(meta.db_table)} ({columns}) VALUES "  # noqa: S608 - names from the model
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.executemany(f"{head}{marks} ON CONFLICT DO NOTHING", list(rows))
            return
        for at in range(0, len(rows), 1000):
            part = rows[at:at + 1000]
            cursor.execute(f"{head}{', '.join([marks] * len(part))} ON CONFLICT DO NOTHING",
                           [value for row in part for value in row])


def _db_when(moment: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(moment)


def _tag_events(enterprise_id: int, rows: Sequence[CustomerTag], name: str, names: dict[int, str]) -> None:
    moment = timezone.now()
    stamp = moment.strftime("%Y%m%d%H%M%S%f")
    when = _db_when(moment)
    _fast_insert(Event, ("enterprise", "customer", "name", "occurred_at", "received_at", "channel", "campaign",
                         "properties", "idempotency_key"),
                 [(enterprise_id, row.customer_id, name, when, when, "", "",
                   json.dumps({"tag_id": row.tag_id, "tag": names.get(row.tag_id, "")}),
                   f"{name}:{row.customer_id}:{row.tag_id}:{stamp}") for row in rows])


# ---------------------------------------------------------------------------------------------------------------
# Event log


def _validate_event(index: int, item: EventInput) -> dict[str, Any]:
    schema = event_types.schema_for(item.name)
    if schema is None:
        raise ValidationFailed(
            _("unknown event type %(name)s") % {"name": repr(item.name)},
            field=f"events[{index}].name", index=index,
            code="unknown_event_type",
        )
    if not item.idempotency_key or len(item.idempotency_key) > 128:
        raise ValidationFailed(
            _("idempotency_key must be 1-128 characters"), field=f"events[{index}].idempotency_key", index=index,
            code="idempotency_key_length",
        )
    if item.occurred_at.tzinfo is None:
        raise ValidationFailed(_("occurred_at needs a timezone"), field=f"events[{index}].occurred_at", index=index,
                               code="naive_datetime")
    if item.occurred_at > timezone.now() + timedelta(minutes=10):
        raise ValidationFailed(_("occurred_at is in the future"), field=f"events[{index}].occurred_at", index=index,
                               code="occurred_at_future")
    if item.channel and item.channel not in Channel.values:
        raise ValidationFailed(
            _("unknown channel %(channel)s") % {"channel": repr(item.channel)},
            field=f"events[{index}].channel", index=index,
            code="unknown_channel",
        )
    if (item.customer_id is None) == (item.identity is None):
        raise ValidationFailed(
            _("give exactly one of customer_id or identity"), field=f"events[{index}].customer_id", index=index,
            code="customer_or_identity",
        )
    try:
        return schema.model_validate(item.properties).model_dump(exclude_defaults=False)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValidationFailed(
            _("%(value)s") % {"value": first['msg']},
            field=f"events[{index}].properties.{where}".rstrip("."), index=index,
            code="invalid_value",
        ) from exc


def _live_customer_ids(enterprise_id: int, ids: set[int]) -> dict[int, int]:
    """Map each known customer id to the live customer it is now: events for a merged-away id land on the survivor."""
    live: dict[int, int] = {}
    pending = {cid: cid for cid in ids}
    for _hop in range(8):
        if not pending:
            break
        rows = dict(
            Customer.objects.filter(id__in=set(pending.values()), enterprise_id=enterprise_id).values_list(
                "id", "merged_into_id"
            )
        )
        following: dict[int, int] = {}
        for asked, current in pending.items():
            if current not in rows:
                continue
            target = rows[current]
            if target is None:
                live[asked] = current
            else:
                following[asked] = target
        pending = following
    return live


def _resolve_event_customers(enterprise_id: int, batch: Sequence[EventInput]) -> list[int]:
    by_identity: dict[tuple[str, str], int] = {}
    idents = {(e.identity.kind, e.identity.value) for e in batch if e.identity is not None}
    if idents:
        query = Q()
        for kind, value in idents:
            query |= Q(kind=kind, value=value)
        for kind, value, cid in Identity.objects.filter(query, enterprise_id=enterprise_id).values_list(
            "kind", "value", "customer_id"
        ):
            by_identity[(kind, value)] = cid
    ids = {e.customer_id for e in batch if e.customer_id is not None}
    live = _live_customer_ids(enterprise_id, ids)
    resolved = []
    for index, item in enumerate(batch):
        if item.identity is not None:
            found = by_identity.get((item.identity.kind, item.identity.value))
            if found is None:
                raise NotFound(_("no customer has this identity"), field=f"events[{index}].identity", index=index)
            resolved.append(found)
        elif item.customer_id is not None and item.customer_id in live:
            resolved.append(live[item.customer_id])
        else:
            raise NotFound(
                _("unknown customer %(customer_id)s") % {"customer_id": item.customer_id},
                field=f"events[{index}].customer_id", index=index,
            )
    return resolved


def _check_refs(enterprise_id: int, batch: Sequence[EventInput]) -> None:
    for attr, model in (("store_id", Store), ("staff_id", Staff)):
        wanted = {getattr(e, attr) for e in batch if getattr(e, attr) is not None}
        if not wanted:
            continue
        known = set(model.objects.filter(id__in=wanted, enterprise_id=enterprise_id).values_list("id", flat=True))
        for index, item in enumerate(batch):
            if getattr(item, attr) is not None and getattr(item, attr) not in known:
                label = f"unknown {attr[:-3]} {getattr(item, attr)}"
                raise NotFound(label, field=f"events[{index}].{attr}", index=index)


def _check_visible(batch: Sequence[EventInput], customer_ids: Sequence[int], visible: Iterable[int] | None) -> None:
    """A scoped caller may only write events for customers it can see; others look unknown (nothing leaks)."""
    if visible is None:
        return
    allowed = set(Customer.objects.filter(id__in=set(customer_ids)).filter(id__in=visible).values_list("id", flat=True))
    for index, (item, cid) in enumerate(zip(batch, customer_ids, strict=True)):
        if cid not in allowed:
            if item.identity is not None:
                raise NotFound(_("no customer has this identity"), field=f"events[{index}].identity", index=index)
            raise NotFound(
                _("unknown customer %(cid)s") % {"cid": cid},
                field=f"events[{index}].customer_id", index=index,
            )


def ingest_events(
    *, enterprise_id: int, batch: Sequence[EventInput], visible_customers: Iterable[int] | None = None
) -> IngestResult:
    """Validate a whole batch, then write it in one statement. All or nothing; idempotent by key.

    `visible_customers` (the caller's scope, e.g. `queries.visible_customer_ids(scope)`) limits which customers the
    batch may name; None means the whole enterprise (trusted internal callers).
    """
    if not batch:
        raise ValidationFailed(_("the batch is empty"), field="events", code="batch_empty")
    if len(batch) > MAX_EVENT_BATCH:
        raise ValidationFailed(
            _("at most %(MAX_EVENT_BATCH)s events per batch") % {"MAX_EVENT_BATCH": MAX_EVENT_BATCH},
            field="events",
            code="too_many_events",
        )
    properties = [_validate_event(index, item) for index, item in enumerate(batch)]
    customer_ids = _resolve_event_customers(enterprise_id, batch)
    _check_visible(batch, customer_ids, visible_customers)
    _check_refs(enterprise_id, batch)
    rows: dict[str, Event] = {}
    for item, props, cid in zip(batch, properties, customer_ids, strict=True):
        if item.idempotency_key in rows:
            continue
        rows[item.idempotency_key] = Event(
            enterprise_id=enterprise_id,
            customer_id=cid,
            name=item.name,
            occurred_at=item.occurred_at,
            channel=item.channel,
            store_id=item.store_id,
            staff_id=item.staff_id,
            campaign=item.campaign,
            properties=props,
            idempotency_key=item.idempotency_key,
        )
    with transaction.atomic():
        existing = set(
            Event.objects.filter(enterprise_id=enterprise_id, idempotency_key__in=list(rows)).values_list(
                "idempotency_key", flat=True
            )
        )
        fresh = [row for key, row in rows.items() if key not in existing]
        try:
            Event.objects.bulk_create(fresh, batch_size=2000, ignore_conflicts=True)
        except IntegrityError as exc:  # a foreign key vanished between validation and insert
            raise Conflict(_("the batch refers to rows that changed meanwhile; retry"), field="events",
                           code="batch_stale") from exc
    return IngestResult(created=len(fresh), duplicates=len(batch) - len(fresh))


def record_event(
    *,
    customer: Customer,
    name: str,
    idempotency_key: str,
    occurred_at: datetime | None = None,
    channel: str = "",
    store_id: int | None = None,
    staff_id: int | None = None,
    campaign: str = "",
    properties: dict[str, Any] | None = None,
) -> bool:
    """Write one event from another service (inside its transaction). Returns False when the key was seen before."""
    return append_event(
        enterprise_id=customer.enterprise_id,
        customer_id=customer.pk,
        name=name,
        idempotency_key=idempotency_key,
        occurred_at=occurred_at,
        channel=channel,
        store_id=store_id,
        staff_id=staff_id,
        campaign=campaign,
        properties=properties,
    )


def append_event(
    *,
    enterprise_id: int,
    customer_id: int,
    name: str,
    idempotency_key: str,
    occurred_at: datetime | None = None,
    channel: str = "",
    store_id: int | None = None,
    staff_id: int | None = None,
    campaign: str = "",
    properties: dict[str, Any] | None = None,
) -> bool:
    """The trusted internal path for one event (order_created, coupon_used, ...), used inside a service's
    transaction: the same checks as a batch (the type's schema too: pure Python), then ONE statement where a batch
    needs four and a savepoint: an INSERT ... SELECT from the customer's row, only if that customer is live and the
    store and staff named are the enterprise's, ON CONFLICT (enterprise_id, idempotency_key) DO NOTHING. When it
    writes nothing (a repeated key, a merged-away or unknown customer, an unknown store or staff member) the batch
    path sorts it out exactly as before: the survivor gets the event, a repeat returns False, an unknown id raises
    NotFound."""
    item = EventInput(
        name=name,
        occurred_at=occurred_at or timezone.now(),
        idempotency_key=idempotency_key,
        customer_id=customer_id,
        channel=channel,
        store_id=store_id,
        staff_id=staff_id,
        campaign=campaign,
        properties=properties or {},
    )
    if _insert_for_live_customer(enterprise_id, item, _validate_event(0, item)):
        return True
    return ingest_events(enterprise_id=enterprise_id, batch=[item]).created == 1


def append_events(*, enterprise_id: int, batch: Sequence[EventInput]) -> int:
    """The trusted internal path for many events by customer id (a job's output, the demo's orders): the same checks
    as a batch (each type's schema too), then one set-based insert of the keys not stored yet. That holds only when
    every customer named is live and every store and staff member named is the enterprise's; anything else (a
    merged-away customer, an unknown id, an event by identity) goes through ingest_events, which sorts it out exactly
    as before. Returns how many events were written."""
    if not batch:
        return 0
    properties = [_validate_event(index, item) for index, item in enumerate(batch)]
    customer_ids = [item.customer_id or 0 for item in batch]  # 0: named by identity, not id
    if 0 in customer_ids or not _all_live(enterprise_id, batch, set(customer_ids)):
        return ingest_events(enterprise_id=enterprise_id, batch=batch).created
    keys = [item.idempotency_key for item in batch]
    mine = Event.objects.filter(enterprise_id=enterprise_id, idempotency_key__in=keys)
    stored = set(mine.values_list("idempotency_key", flat=True))
    rows, seen = [], set(stored)
    for item, customer_id, props in zip(batch, customer_ids, properties, strict=True):
        if item.idempotency_key in seen:
            continue
        seen.add(item.idempotency_key)
        rows.append(Event(
            enterprise_id=enterprise_id, customer_id=customer_id, name=item.name, occurred_at=item.occurred_at,
            channel=item.channel, store_id=item.store_id, staff_id=item.staff_id, campaign=item.campaign,
            properties=props, idempotency_key=item.idempotency_key,
        ))
    try:
        with transaction.atomic():
            Event.objects.bulk_create(rows, batch_size=1000)
    except IntegrityError:  # a key stored meanwhile by another writer: the batch path skips it
        return ingest_events(enterprise_id=enterprise_id, batch=batch).created
    return len(rows)


@dataclass(frozen=True)
class EventRows:
    """Events described as SQL rather than as objects, for jobs whose output is already rows in the database (a tier
    evaluation's history rows, say). `source` is a FROM clause (tables and joins) and `where` a condition over it,
    written by the calling app from its own table names, every value in them a placeholder filled from `params` (in
    the order they appear: source, then where); the other fields are SQL
    expressions over it: the customer's id, when it happened, the idempotency key (1-128 characters) and each
    property of the event type's schema as `(name, expression)`."""

    source: str
    params: tuple[Any, ...]
    customer: str
    occurred_at: str
    key: str
    properties: tuple[tuple[str, str], ...] = ()
    where: str = "1 = 1"


_PROPERTY_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")


def _check_event_rows(name: str, rows: EventRows) -> list[str]:
    schema = event_types.schema_for(name)
    if schema is None:
        raise ValidationFailed(_("unknown event type %(name)s") % {"name": repr(name)}, field="name",
                               code="unknown_event_type")
    names = [prop for prop, _expression in rows.properties]
    fields = schema.model_fields
    required = {key for key, info in fields.items() if info.is_required()}
    unknown = [prop for prop in names if prop not in fields or not _PROPERTY_NAME.match(prop)]
    if unknown or len(set(names)) != len(names) or not required <= set(names):
        raise ValidationFailed(_("the properties do not match the event type's schema"), field="properties",
                               code="properties_mismatch")
    return names


def append_events_from(*, enterprise_id: int, name: str, rows: EventRows) -> int:
    """The set-based form of `append_events` for many events of one type: one `INSERT … SELECT` into the log, so a
    job that changed 100,000 customers writes their events without building one object per row. The property names
    are checked against the type's schema; the values are the caller's SQL (a trusted internal job, like
    append_events' callers), so the caller keeps them within the schema. Only live customers of the enterprise get
    events (a merged-away customer's rows are left out, not redirected), and a key already in the log is skipped, so
    running it twice writes once. Ids come from the log's own sequence, so the analytics copy reads the new rows by
    its id watermark like any other insert. Returns how many events were written."""
    names = _check_event_rows(name, rows)
    connection = transaction.get_connection()
    qn = connection.ops.quote_name
    build = "jsonb_build_object" if connection.vendor == "postgresql" else "json_object"
    pairs = ", ".join(f"'{prop}', {expression}" for prop, (_ignored, expression) in zip(
        names, rows.properties, strict=True))
    events, customers = qn(Event._meta.db_table), qn(Customer._meta.db_table)
    # Table names, the checked property names and the calling app's own SQL are formatted in; values are parameters.
    sql = (
        f"INSERT INTO {events} (enterprise_id, customer_id, name, occurred_at, received_at, channel, campaign, "  # noqa: S608
        f"properties, idempotency_key) "
        f"SELECT %s, {rows.customer}, %s, {rows.occurred_at}, %s, '', '', {build}({pairs}), {rows.key} "
        f"FROM {rows.source} WHERE ({rows.where}) "
        f"AND EXISTS (SELECT 1 FROM {customers} live WHERE live.id = {rows.customer} AND live.enterprise_id = %s "
        f"AND live.merged_into_id IS NULL) "
        f"AND NOT EXISTS (SELECT 1 FROM {events} seen WHERE seen.enterprise_id = %s "
        f"AND seen.idempotency_key = {rows.key})"
    )
    params = [enterprise_id, name, _db_time(timezone.now()), *rows.params, enterprise_id, enterprise_id]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return max(0, cursor.rowcount)


def _all_live(enterprise_id: int, batch: Sequence[EventInput], customer_ids: set[int]) -> bool:
    stores = {item.store_id for item in batch if item.store_id is not None}
    staff = {item.staff_id for item in batch if item.staff_id is not None}
    live = Customer.objects.filter(enterprise_id=enterprise_id, pk__in=customer_ids, merged_into__isnull=True)
    return (
        live.count() == len(customer_ids)
        and Store.objects.filter(enterprise_id=enterprise_id, pk__in=stores).count() == len(stores)
        and Staff.objects.filter(enterprise_id=enterprise_id, pk__in=staff).count() == len(staff)
    )


_LIVE_INSERT_FIELDS = ("name", "occurred_at", "received_at", "channel", "store", "staff", "campaign", "properties",
                       "idempotency_key")


def _insert_for_live_customer(enterprise_id: int, item: EventInput, properties: dict[str, Any]) -> bool:
    connection = transaction.get_connection()
    values = (item.name, item.occurred_at, timezone.now(), item.channel, item.store_id, item.staff_id, item.campaign,
              properties, item.idempotency_key)
    params = [model_field.get_db_prep_save(value, connection)
              for model_field, value in zip(_live_insert_fields(), values, strict=True)]
    params += [item.customer_id, enterprise_id]
    for ref_id in (item.store_id, item.staff_id):
        if ref_id is not None:
            params += [ref_id, enterprise_id]
    sql = _live_insert_sql(connection.alias, item.store_id is not None, item.staff_id is not None)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount == 1


@functools.cache
def _live_insert_fields() -> tuple[Field[Any, Any], ...]:
    fields = tuple(Event._meta.get_field(name) for name in _LIVE_INSERT_FIELDS)
    assert all(isinstance(f, Field) for f in fields)
    return fields  # type: ignore[return-value]


@functools.cache
def _live_insert_sql(alias: str, with_store: bool, with_staff: bool) -> str:
    connection = connections[alias]
    qn = connection.ops.quote_name
    columns, placeholders = [], []
    for model_field in _live_insert_fields():
        assert model_field.column is not None
        columns.append(qn(model_field.column))
        # PostgreSQL types the SELECT list before the INSERT sees it: say each column's type (a NULL included).
        placeholders.append(f"CAST(%s AS {model_field.db_type(connection)})" if connection.vendor == "postgresql"
                            else "%s")
    where = ["c.id = %s", "c.enterprise_id = %s", "c.merged_into_id IS NULL"]
    for wanted, model in ((with_store, Store), (with_staff, Staff)):
        if wanted:
            table = qn(model._meta.db_table)
            where.append(f"EXISTS (SELECT 1 FROM {table} r WHERE r.id = %s AND r.enterprise_id = %s)")  # noqa: S608
    return (
        f"INSERT INTO {qn(Event._meta.db_table)} (enterprise_id, customer_id, {', '.join(columns)}) "  # noqa: S608
        f"SELECT c.enterprise_id, c.id, {', '.join(placeholders)} FROM {qn(Customer._meta.db_table)} c "
        f"WHERE {' AND '.join(where)} ON CONFLICT (enterprise_id, idempotency_key) DO NOTHING"
    )


# ---------------------------------------------------------------------------------------------------------------
# Bulk tagging: the selected customers or every customer a filter matches, in one statement whatever the count


MAX_SELECTED = 1000
BULK_ACTIONS = ("add", "remove")


def _bulk_targets(scope: Scope, *, customer_ids: Sequence[int] | None,
                  flt: queries.CustomerFilter | None) -> Any:
    """The ids (a subquery, never loaded) of the chosen customers inside the scope."""
    if (customer_ids is None) == (flt is None):
        raise ValidationFailed(_("choose customers or a filter, not both"), field="customer_ids",
                               code="customers_and_filter")
    if customer_ids is not None:
        if not customer_ids:
            raise ValidationFailed(_("choose at least one customer"), field="customer_ids",
                                   code="customers_required")
        if len(customer_ids) > MAX_SELECTED:
            raise ValidationFailed(
                _("at most %(MAX_SELECTED)s selected customers; use the filter for more")
                % {"MAX_SELECTED": MAX_SELECTED},
                field="customer_ids",
                code="too_many_selected",
            )
        visible = queries.customers(scope).filter(id__in=list(customer_ids))
    else:
        assert flt is not None
        visible = queries.filtered_customers(scope, flt)
    return visible.select_related(None).prefetch_related(None).order_by().values("id")


def bulk_tag_count(scope: Scope, *, customer_ids: Sequence[int] | None = None,
                   flt: queries.CustomerFilter | None = None) -> int:
    """How many customers a bulk action would touch (what the confirmation shows)."""
    return int(_bulk_targets(scope, customer_ids=customer_ids, flt=flt).count())


@transaction.atomic
def bulk_tag(*, scope: Scope, tag_id: int, action: str, customer_ids: Sequence[int] | None = None,
             flt: queries.CustomerFilter | None = None, actor: Actor = None) -> int:
    """Add or remove one tag on the selected customers, or on all customers matching `flt`, within the scope (a store
    manager's "all" is their store's). One INSERT ... SELECT (or DELETE) and one for the events, so a million
    customers cost what a hundred do; running it again changes nothing. Returns the customers changed."""
    if action not in BULK_ACTIONS:
        raise ValidationFailed(_("action is add or remove"), field="action", code="unknown_action")
    tag = queries.tags(scope).filter(pk=tag_id).first()
    if tag is None:
        raise NotFound(_("unknown tag %(tag_id)s") % {"tag_id": tag_id}, field="tag_id", code="unknown_tag")
    targets = _bulk_targets(scope, customer_ids=customer_ids, flt=flt)
    sub_sql, sub_params = targets.query.sql_with_params()
    moment = timezone.now()
    if action == "add":
        if tag.group.exclusive:  # a tag of an exclusive group replaces its siblings
            CustomerTag.objects.filter(customer_id__in=targets, tag__group_id=tag.group_id).exclude(
                tag_id=tag.pk).delete()
        changed = _insert_tag_rows(sub_sql, sub_params, tag.pk, user_of(actor), moment)
        _insert_tag_events(scope.enterprise_id, tag, "tag_added", moment,
                           "ct.tag_id = %s AND ct.created_at = %s", [tag.pk, _db_time(moment)])
    else:
        _insert_tag_events(scope.enterprise_id, tag, "tag_removed", moment,
                           f"ct.tag_id = %s AND ct.customer_id IN ({sub_sql})", [tag.pk, *sub_params])
        changed, _by_model = CustomerTag.objects.filter(tag_id=tag.pk, customer_id__in=targets).delete()
    how = "selected" if customer_ids is not None else "filter"
    if action == "add":
        summary = (audit.ntext(N_("tagged %(count)s selected customer with %(tag)s"),
                               N_("tagged %(count)s selected customers with %(tag)s"), changed, tag=tag.name)
                   if how == "selected" else
                   audit.ntext(N_("tagged %(count)s filtered customer with %(tag)s"),
                               N_("tagged %(count)s filtered customers with %(tag)s"), changed, tag=tag.name))
    else:
        summary = (audit.ntext(N_("untagged %(count)s selected customer from %(tag)s"),
                               N_("untagged %(count)s selected customers from %(tag)s"), changed, tag=tag.name)
                   if how == "selected" else
                   audit.ntext(N_("untagged %(count)s filtered customer from %(tag)s"),
                               N_("untagged %(count)s filtered customers from %(tag)s"), changed, tag=tag.name))
    audit.record(
        enterprise_id=scope.enterprise_id, actor=actor, action="customer.tag" if action == "add" else "customer.untag",
        target_type="tag", target_id=tag.pk,
        summary=summary,
        changes={"count": changed, "how": how, "filter": _filter_summary(flt),
                 "customer_ids": list(customer_ids or [])[:100]},
    )
    return changed


def _filter_summary(flt: queries.CustomerFilter | None) -> dict[str, Any]:
    if flt is None:
        return {}
    defaults = queries.CustomerFilter()
    return {key: list(value) if isinstance(value, tuple) else value for key, value in vars(flt).items()
            if value not in ("", None, ()) and value != getattr(defaults, key)}


def _db_time(moment: datetime) -> Any:
    return connections["default"].ops.adapt_datetimefield_value(moment)


def _insert_tag_rows(sub_sql: str, sub_params: Sequence[Any], tag_id: int, user: Any, moment: datetime) -> int:
    table = CustomerTag._meta.db_table
    # Only table names and the ORM's own subquery are formatted in; every value is a parameter.
    sql = (
        f"INSERT INTO {table} (customer_id, tag_id, source, added_by_id, created_at) "  # noqa: S608
        f"SELECT sub.id, %s, %s, %s, %s FROM ({sub_sql}) sub "
        f"WHERE NOT EXISTS (SELECT 1 FROM {table} ct WHERE ct.customer_id = sub.id AND ct.tag_id = %s)"
    )
    params = [tag_id, TagKind.MANUAL, user.pk if user is not None else None, _db_time(moment), *sub_params, tag_id]
    with connections["default"].cursor() as cursor:
        cursor.execute(sql, params)
        return max(0, cursor.rowcount)


def _insert_tag_events(enterprise_id: int, tag: Tag, name: str, moment: datetime, where: str,
                       where_params: Sequence[Any]) -> None:
    """One event per customer-tag row matching `where` (alias ct), keyed like the one-by-one path's events."""
    connection = connections["default"]
    props = json.dumps({"tag_id": tag.pk, "tag": tag.name}, ensure_ascii=False)
    as_json = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
    stamp = moment.strftime("%Y%m%d%H%M%S%f")
    # Table names, a fixed cast and the caller's fixed condition are formatted in; values are parameters.
    sql = (
        f"INSERT INTO {Event._meta.db_table} (enterprise_id, customer_id, name, occurred_at, received_at, "  # noqa: S608
        "channel, "
        f"campaign, properties, idempotency_key) "
        f"SELECT %s, ct.customer_id, %s, %s, %s, '', '', {as_json}, "
        f"%s || CAST(ct.customer_id AS VARCHAR(20)) || %s "
        f"FROM {CustomerTag._meta.db_table} ct WHERE {where}"
    )
    at = _db_time(moment)
    params = [enterprise_id, name, at, at, props, f"{name}:", f":{tag.pk}:{stamp}", *where_params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
