"""A customer's personal data (PIPL): everything Siyu holds on them, exported; and erased on request.

Each app that keeps rows about a customer registers, from its AppConfig.ready():
- an export section: (customer_id) -> list of plain dicts (JSON-safe values), with a title;
- an eraser: (enterprise_id, customer_id) -> count of rows it anonymised or removed, run inside the erasure's
  transaction, set-based over that one customer's rows.

The customers app registers its own (profile, identities, relationships, tags, events, consent, merges) below, so an
export names every identity and event even where no other app is installed.

Erasure keeps what the business must keep and nobody can be identified by: orders, their amounts and the ledger stay
(finance and tax need them; the books still balance), as do counts and events by name and time. What identifies the
person goes: name, phone, birthday, region, identities (openid, unionid, external_userid, phone), remarks, tag
assignments, event properties that hold text they wrote or gave, delivery addresses. Every channel is withdrawn and
the row is marked erased, which every sender's consent filter reads, so no future send reaches them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.db.models import Model
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_

from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.customers import consent, queries
from siyu.customers.models import (
    Consent,
    ConsentMethod,
    Customer,
    CustomerMerge,
    CustomerTag,
    Erasure,
    Event,
    Gender,
    Identity,
    Relationship,
)
from siyu.org.scope import Scope

Collector = Callable[[int], list[dict[str, Any]]]
Eraser = Callable[[int, int], int]


@dataclass(frozen=True)
class Section:
    name: str
    title: str | Promise
    collect: Collector


_SECTIONS: dict[str, Section] = {}
_ERASERS: dict[str, Eraser] = {}

# Event properties that carry what a person wrote or gave; others (ids, amounts, states) stay for the statistics.
PERSONAL_PROPERTIES = frozenset({
    "text", "name", "nickname", "phone", "mobile", "address", "avatar", "remark", "email", "birthday", "unionid",
    "openid", "external_userid", "content", "comment", "description", "ip", "user_agent",
})


def register_section(name: str, title: str | Promise, collect: Collector) -> None:
    _SECTIONS[name] = Section(name, title, collect)


def register_eraser(name: str, erase: Eraser) -> None:
    _ERASERS[name] = erase


def section_names() -> list[str]:
    return list(_SECTIONS)


def eraser_names() -> list[str]:
    return list(_ERASERS)


def plain(value: Any) -> Any:
    """A JSON-safe copy: datetimes as ISO 8601 in Asia/Shanghai, dates as ISO, lazy strings as text."""
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Promise):
        return str(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def rows(model: type[Model], fields: list[str], **filters: Any) -> list[dict[str, Any]]:
    """The named fields of the matching rows, ordered by id, as plain dicts (the helper every section uses)."""
    return [plain(row) for row in model._default_manager.filter(**filters).order_by("pk").values(*fields)]


def _visible(scope: Scope, customer_id: int) -> Customer:
    """Only HQ and managers handle a customer's personal data; store staff never (they see masked phones)."""
    if not scope.is_manager:
        raise PermissionDenied(_("only HQ and managers may export or erase a customer's personal data"))
    customer = queries.customers(scope).filter(pk=customer_id).first()
    if customer is None:
        raise NotFound(_("customer not found"), field="customer_id")
    return customer


def _collect(customer: Customer) -> dict[str, Any]:
    sections = {}
    for section in _SECTIONS.values():
        sections[section.name] = {"title": str(section.title), "rows": section.collect(customer.pk)}
    return {
        "customer_id": customer.pk,
        "enterprise_id": customer.enterprise_id,
        "exported_at": plain(timezone.now()),
        "erased_at": plain(customer.erased_at),
        "sections": sections,
    }


def export(*, scope: Scope, customer_id: int, actor: Actor = None) -> dict[str, Any]:
    """Everything Siyu holds on the customer, by section; the export itself is audited (who took a copy, when)."""
    customer = _visible(scope, customer_id)
    data = _collect(customer)
    audit.record(
        enterprise_id=customer.enterprise_id, actor=actor, action="customer.personal_data_export",
        target_type="customer", target_id=customer.pk, summary=audit.text(N_("personal data exported")),
        changes={"sections": list(data["sections"])},
    )
    return data


def export_own(*, enterprise_id: int, customer_id: int) -> dict[str, Any]:
    """The signed-in customer's own copy (the storefront's "my data"); audited as asked by the customer."""
    customer = Customer.objects.filter(pk=customer_id, enterprise_id=enterprise_id, merged_into__isnull=True).first()
    if customer is None:
        raise NotFound(_("customer not found"), field="customer_id")
    data = _collect(customer)
    audit.record(
        enterprise_id=enterprise_id, actor=None, action="customer.personal_data_export", target_type="customer",
        target_id=customer.pk, summary=audit.text(N_("personal data exported by the customer")),
        changes={"by": "customer"},
    )
    return data


def erase(*, scope: Scope, customer_id: int, reason: str, confirm: int, actor: Actor = None) -> Erasure:
    """Erase the customer's personal data (HQ only; `confirm` must repeat the customer id). Once per customer.

    One transaction under the customer's row lock: a second erasure, concurrent or later, is a 409, and nothing is
    half-erased. A merged-away customer is refused with the survivor's id: their data lives on the survivor now.
    """
    if not scope.is_hq:
        raise PermissionDenied(_("only HQ may erase a customer's personal data"))
    reason = reason.strip()
    if not reason:
        raise ValidationFailed(_("erasure needs a reason, such as the request's reference"), field="reason",
                               code="required")
    if len(reason) > 255:
        raise ValidationFailed(_("the reason is at most 255 characters"), field="reason", code="too_long")
    if confirm != customer_id:
        raise ValidationFailed(_("type the customer's id to confirm"), field="confirm", code="confirm_mismatch")
    with transaction.atomic():
        customer = (
            Customer.objects.select_for_update()
            .filter(pk=customer_id, enterprise_id=scope.enterprise_id)
            .first()
        )
        if customer is None:
            raise NotFound(_("customer not found"), field="customer_id")
        if customer.merged_into_id is not None:
            raise Conflict(
                _("this customer was merged into %(survivor)s; erase that customer instead")
                % {"survivor": customer.merged_into_id},
                field="customer_id", code="customer_merged",
            )
        if customer.erased_at is not None:
            raise Conflict(_("this customer's personal data was already erased"), field="customer_id",
                           code="already_erased")
        counts: dict[str, int] = {}
        for name, eraser in _ERASERS.items():
            counts[name] = eraser(customer.enterprise_id, customer.pk)
        counts["consents_withdrawn"] = consent.withdraw_all(
            customer=customer, method=ConsentMethod.ERASURE, text="personal data erased at the customer's request",
            actor=actor,
        )
        now = timezone.now()
        customer.name, customer.phone, customer.region = "", "", ""
        customer.birthday = None
        customer.gender = Gender.UNKNOWN
        customer.erased_at = now
        customer.save(update_fields=["name", "phone", "region", "birthday", "gender", "erased_at", "updated_at"])
        erasure = Erasure.objects.create(
            enterprise_id=customer.enterprise_id, customer=customer, reason=reason, actor=audit.user_of(actor),
            counts=counts, erased_at=now,
        )
        Event.objects.create(
            enterprise_id=customer.enterprise_id, customer=customer, name="customer_erased", occurred_at=now,
            properties={}, idempotency_key=f"erasure:{customer.pk}",
        )
        audit.record(
            enterprise_id=customer.enterprise_id, actor=actor, action="customer.erase", target_type="customer",
            target_id=customer.pk, summary=audit.text(N_("personal data erased")),
            changes={"reason": reason, "counts": counts},
        )
    return erasure


# ---------------------------------------------------------------------------------------------------------------
# The customers app's own sections and eraser.

def _profile(customer_id: int) -> list[dict[str, Any]]:
    return rows(Customer, ["id", "name", "gender", "birthday", "phone", "region", "created_source", "home_store__name",
                           "created_at", "updated_at", "erased_at"], pk=customer_id)


def _identities(customer_id: int) -> list[dict[str, Any]]:
    return rows(Identity, ["kind", "value", "account", "created_at"], customer_id=customer_id)


def _relationships(customer_id: int) -> list[dict[str, Any]]:
    return rows(Relationship, ["staff__name", "staff__store__name", "channel", "state", "remark", "status", "added_at",
                               "status_changed_at"], customer_id=customer_id)


def _tags(customer_id: int) -> list[dict[str, Any]]:
    return rows(CustomerTag, ["tag__group__name", "tag__name", "source", "created_at"], customer_id=customer_id)


def _events(customer_id: int) -> list[dict[str, Any]]:
    return rows(Event, ["name", "occurred_at", "channel", "store__name", "staff__name", "campaign", "properties"],
                customer_id=customer_id)


def _consents(customer_id: int) -> list[dict[str, Any]]:
    return rows(Consent, ["channel", "granted", "method", "text", "text_version", "evidence", "recorded_at"],
                customer_id=customer_id)


def _merges(customer_id: int) -> list[dict[str, Any]]:
    return rows(CustomerMerge, ["absorbed_id", "absorbed_snapshot", "reason", "created_at"], survivor_id=customer_id)


def _erase_own(enterprise_id: int, customer_id: int) -> int:
    """Identities, tag assignments, remarks, personal event properties, merge snapshots and the absorbed rows."""
    absorbed = list(Customer.objects.filter(merged_into_id=customer_id).values_list("pk", flat=True))
    people = [customer_id, *absorbed]
    total = Identity.objects.filter(customer_id__in=people).delete()[0]
    total += CustomerTag.objects.filter(customer_id__in=people).delete()[0]
    total += Relationship.objects.filter(customer_id__in=people).exclude(remark="").update(remark="")
    total += CustomerMerge.objects.filter(survivor_id=customer_id).update(absorbed_snapshot={})
    total += Customer.objects.filter(pk__in=absorbed).update(
        name="", phone="", region="", birthday=None, gender=Gender.UNKNOWN, erased_at=timezone.now()
    )
    # One customer's events, rewritten only where a property is personal (a handful of rows, not a scan of many
    # customers): the statistics keep the event, its time and its ids.
    for event in Event.objects.filter(customer_id=customer_id).only("pk", "properties").iterator(chunk_size=500):
        props = event.properties or {}
        if isinstance(props, dict) and PERSONAL_PROPERTIES.intersection(props):
            Event.objects.filter(pk=event.pk).update(
                properties={k: v for k, v in props.items() if k not in PERSONAL_PROPERTIES}
            )
            total += 1
    return total


register_section("profile", _("Profile"), _profile)
register_section("identities", _("Identities"), _identities)
register_section("relationships", _("Staff relationships"), _relationships)
register_section("tags", _("Tags"), _tags)
register_section("consents", _("Marketing consent"), _consents)
register_section("events", _("Activity"), _events)
register_section("merges", _("Merged records"), _merges)
register_eraser("customers", _erase_own)
