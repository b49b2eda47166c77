"""Marketing consent per channel (PIPL): recorded, read, and honoured by every path that markets to customers.

A customer's state on a channel is their latest consent record there. With no record, the channel's default applies:
WeCom and the Official Account are channels the customer opened themselves (they added a staff member, they
followed), so marketing there is allowed until they withdraw; SMS and mini-program subscribe messages reach people
who never opened a conversation, so they need a recorded grant first. An erased customer is withdrawn everywhere.

Senders filter with `allowed_filter` (one correlated subquery per channel, inside the sender's own query: set-based,
never a loop over customers).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import BooleanField, Exists, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_

from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import Conflict, NotFound, ValidationFailed
from siyu.customers import queries
from siyu.customers.models import Consent, ConsentMethod, Customer, MarketingChannel
from siyu.org.scope import Scope

DEFAULTS: dict[str, bool] = {
    MarketingChannel.WECOM: True,
    MarketingChannel.OFFICIAL_ACCOUNT: True,
    MarketingChannel.SMS: False,
    MarketingChannel.MINI_PROGRAM: False,
}
# Methods an operator or a caller may record; erasure records are written only by the erasure itself.
RECORDABLE = [m for m in ConsentMethod.values if m != ConsentMethod.ERASURE]
# (value, label) pairs for forms that may not import the models.
CHANNEL_CHOICES = list(MarketingChannel.choices)
METHOD_CHOICES = [(value, label) for value, label in ConsentMethod.choices if value in RECORDABLE]
METHOD_LABELS = dict(ConsentMethod.choices)
CHANNEL_LABELS = dict(MarketingChannel.choices)
MAX_EVIDENCE_KEYS = 10


@dataclass(frozen=True)
class ChannelState:
    channel: str
    granted: bool
    by_default: bool
    method: str
    text: str
    text_version: str
    recorded_at: datetime | None


def allowed_filter(channel: str, *, customer_ref: str = "customer_id") -> Q:
    """A Q on any model with a customer reference (`customer_ref`): the customer may be marketed to on `channel`.

    Used inside the sender's own query; the latest record decides, else the channel's default; erased customers never.
    """
    if channel not in DEFAULTS:
        raise ValueError(f"unknown marketing channel {channel!r}")
    latest = Subquery(
        Consent.objects.filter(customer_id=OuterRef(customer_ref), channel=channel)
        .order_by("-recorded_at", "-id")
        .values("granted")[:1],
        output_field=BooleanField(),
    )
    decided = Coalesce(latest, Value(DEFAULTS[channel]), output_field=BooleanField())
    erased = Exists(Customer.objects.filter(pk=OuterRef(customer_ref), erased_at__isnull=False))
    return Q(decided) & ~Q(erased)


def states(customer_id: int) -> list[ChannelState]:
    """The customer's state on every channel, with the record that decides it (two queries at most)."""
    latest: dict[str, Consent] = {}
    for row in Consent.objects.filter(customer_id=customer_id).order_by("channel", "-recorded_at", "-id"):
        latest.setdefault(row.channel, row)
    erased = Customer.objects.filter(pk=customer_id, erased_at__isnull=False).exists()
    out = []
    for channel in MarketingChannel.values:
        decided = latest.get(channel)
        if decided is None:
            out.append(ChannelState(channel, DEFAULTS[channel] and not erased, True, "", "", "", None))
        else:
            out.append(ChannelState(channel, decided.granted and not erased, False, decided.method, decided.text,
                                    decided.text_version, decided.recorded_at))
    return out


def history(customer_id: int) -> list[Consent]:
    return list(Consent.objects.filter(customer_id=customer_id).order_by("-recorded_at", "-id"))


def _clean_evidence(evidence: dict[str, Any] | None) -> dict[str, str]:
    if not evidence:
        return {}
    if len(evidence) > MAX_EVIDENCE_KEYS:
        raise ValidationFailed(_("evidence holds at most %(n)s entries") % {"n": MAX_EVIDENCE_KEYS},
                               field="evidence", code="too_long")
    out = {}
    for key, value in evidence.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 32:
            raise ValidationFailed(_("evidence keys are 1 to 32 characters"), field="evidence", code="invalid")
        if not isinstance(value, str | int) or len(str(value)) > 200:
            raise ValidationFailed(_("each evidence value is text of at most 200 characters"),
                                   field=f"evidence.{key}", code="invalid")
        out[key] = str(value)
    return out


def _check(
    *, channel: str, method: str, granted: bool, text: str, text_version: str, idempotency_key: str,
    recorded_at: datetime | None,
) -> datetime:
    """The record's own fields, each refused with its field and code; returns the time it takes effect."""
    if channel not in DEFAULTS:
        raise ValidationFailed(_("unknown channel %(channel)s") % {"channel": channel}, field="channel",
                               code="invalid_choice")
    if method not in RECORDABLE:
        raise ValidationFailed(_("unknown method %(method)s") % {"method": method}, field="method",
                               code="invalid_choice")
    if granted and not text:
        raise ValidationFailed(_("a grant needs the text the customer agreed to"), field="text", code="required")
    if len(text) > 500:
        raise ValidationFailed(_("the text is at most 500 characters"), field="text", code="too_long")
    if len(text_version) > 32:
        raise ValidationFailed(_("the text version is at most 32 characters"), field="text_version", code="too_long")
    if len(idempotency_key) > 128:
        raise ValidationFailed(_("the idempotency key is at most 128 characters"), field="idempotency_key",
                               code="too_long")
    now = timezone.now()
    when = recorded_at or now
    if timezone.is_naive(when):
        raise ValidationFailed(_("the time needs a timezone"), field="recorded_at", code="invalid")
    if when > now + timedelta(minutes=5):
        raise ValidationFailed(_("the time is in the future"), field="recorded_at", code="in_future")
    return when


def record(
    *,
    scope: Scope,
    customer_id: int,
    channel: str,
    granted: bool,
    method: str,
    text: str = "",
    text_version: str = "",
    evidence: dict[str, Any] | None = None,
    recorded_at: datetime | None = None,
    idempotency_key: str = "",
    actor: Actor = None,
) -> tuple[Consent, bool]:
    """Record a grant or a withdrawal. Returns (record, created); a repeated idempotency key returns the first record.

    A grant needs the wording the customer saw (`text`): a consent without it proves nothing. A time in the future
    is refused; a past time (a paper form entered later) is allowed and ordered by that time.
    """
    text, text_version = text.strip(), text_version.strip()
    when = _check(channel=channel, method=method, granted=granted, text=text, text_version=text_version,
                  idempotency_key=idempotency_key, recorded_at=recorded_at)
    clean = _clean_evidence(evidence)
    customer = queries.customers(scope).filter(pk=customer_id, merged_into__isnull=True).first()
    if customer is None:
        raise NotFound(_("customer not found"), field="customer_id")
    if idempotency_key:
        seen = Consent.objects.filter(enterprise_id=customer.enterprise_id, idempotency_key=idempotency_key).first()
        if seen is not None:
            return seen, False
    if customer.erased_at is not None:
        raise Conflict(_("this customer's personal data was erased; record a new customer instead"),
                       field="customer_id", code="customer_erased")
    try:
        with transaction.atomic():
            row = Consent.objects.create(
                enterprise_id=customer.enterprise_id, customer=customer, channel=channel, granted=granted,
                method=method, text=text, text_version=text_version, evidence=clean, actor=audit.user_of(actor),
                recorded_at=when, idempotency_key=idempotency_key,
            )
            from siyu.customers import services  # noqa: PLC0415 - services imports this module's filter

            services.append_event(
                enterprise_id=customer.enterprise_id, customer_id=customer.pk, name="consent_changed",
                idempotency_key=f"consent:{row.pk}", occurred_at=when,
                properties={"channel": channel, "granted": granted, "method": method},
            )
            audit.record(
                enterprise_id=customer.enterprise_id, actor=actor, action="consent.record", target_type="customer",
                target_id=customer.pk, summary=audit.text(N_("%(channel)s: %(decision)s (%(method)s)"),
                                   channel=audit.label(CHANNEL_LABELS[channel]),
                                   decision=audit.label(N_("granted") if granted else N_("withdrawn")),
                                   method=audit.label(METHOD_LABELS[method])),
                changes={"channel": channel, "granted": granted, "method": method, "consent_id": row.pk},
            )
    except IntegrityError:
        seen = Consent.objects.filter(enterprise_id=customer.enterprise_id, idempotency_key=idempotency_key).first()
        if seen is None:
            raise
        return seen, False
    return row, True


def withdraw_all(*, customer: Customer, method: str, text: str, actor: Actor = None) -> int:
    """Inside the caller's transaction: a withdrawal on every channel (erasure). Returns how many were written."""
    now = timezone.now()
    Consent.objects.bulk_create([
        Consent(enterprise_id=customer.enterprise_id, customer=customer, channel=channel, granted=False,
                method=method, text=text, actor=audit.user_of(actor), recorded_at=now)
        for channel in MarketingChannel.values
    ])
    return len(MarketingChannel.values)
