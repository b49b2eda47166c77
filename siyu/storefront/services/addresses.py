"""The mall customer's address book: an address used at checkout is kept (once) for next time, and the address
book page adds, edits, deletes and chooses the default (at most one, a partial unique constraint backs it)."""

from __future__ import annotations

import re
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from siyu.core.errors import Conflict, NotFound, ValidationFailed
from siyu.orders.services.common import _now
from siyu.storefront.models import MallAddress

MAX_ADDRESSES = 20
PHONE = re.compile(r"1[3-9]\d{9}")


def clean_address(*, name: str, phone: str, region: str, detail: str) -> dict[str, str]:
    """The fields of a delivery address, checked; each problem names its field."""
    name, phone, region, detail = name.strip(), phone.strip(), region.strip(), detail.strip()
    if not 1 <= len(name) <= 64:
        raise ValidationFailed(_("enter the receiver's name (at most 64 characters)"), field="name", code="required")
    if not PHONE.fullmatch(phone):
        raise ValidationFailed(_("enter an 11-digit mainland mobile number"), field="phone", code="invalid_phone")
    if len(region) > 100:
        raise ValidationFailed(_("at most 100 characters"), field="region", code="too_long")
    if not 4 <= len(detail) <= 200:
        raise ValidationFailed(_("enter the street address (4 to 200 characters)"), field="detail", code="required")
    return {"name": name, "phone": phone, "region": region, "detail": detail}


def remember_address(*, enterprise_id: int, customer_id: int, fields: dict[str, str],
                     now: datetime | None = None) -> None:
    """Keep the address in the book (the same one twice is one entry; a full book keeps the newest)."""
    try:
        with transaction.atomic():
            MallAddress.objects.create(enterprise_id=enterprise_id, customer_id=customer_id, created_at=_now(now),
                                       **fields)
    except IntegrityError:
        return
    stale = MallAddress.objects.filter(customer_id=customer_id).order_by("-created_at", "-id") \
        .values_list("pk", flat=True)[MAX_ADDRESSES:]
    MallAddress.objects.filter(pk__in=list(stale)).delete()


# ---------------------------------------------------------------------------------------------------------------
# The address book page (/m/<brand>/me/addresses/): the signed-in customer's own rows only; another customer's
# address id is "not found", never a hint that it exists.


def _locked_book(enterprise_id: int, customer_id: int) -> list[MallAddress]:
    """The customer's addresses, locked in id order (one order everywhere: no deadlock between two taps)."""
    return list(MallAddress.objects.select_for_update().filter(enterprise_id=enterprise_id, customer_id=customer_id)
                .order_by("id"))


def _mine(book: list[MallAddress], address_id: int) -> MallAddress:
    found = next((a for a in book if a.pk == address_id), None)
    if found is None:
        raise NotFound(_("address %(address_id)s not found") % {"address_id": address_id}, field="address_id")
    return found


def _make_default(book: list[MallAddress], chosen: MallAddress) -> None:
    MallAddress.objects.filter(pk__in=[a.pk for a in book if a.is_default and a.pk != chosen.pk]).update(
        is_default=False)
    if not chosen.is_default:
        chosen.is_default = True
        chosen.save(update_fields=["is_default"])


def _duplicate() -> Conflict:
    return Conflict(_("this address is already in your address book"), field="detail", code="duplicate_address")


def add_address(*, enterprise_id: int, customer_id: int, fields: dict[str, str], make_default: bool = False,
                now: datetime | None = None) -> MallAddress:
    """A new address (the first one is the default); a full book or the same address twice is refused."""
    clean = clean_address(**fields)
    try:
        with transaction.atomic():
            book = _locked_book(enterprise_id, customer_id)
            if len(book) >= MAX_ADDRESSES:
                raise ValidationFailed(_("the address book holds at most %(n)s addresses") % {"n": MAX_ADDRESSES},
                                       field="address", code="address_book_full")
            made = MallAddress.objects.create(enterprise_id=enterprise_id, customer_id=customer_id,
                                              created_at=_now(now), **clean)
            if make_default or not any(a.is_default for a in book):
                _make_default(book, made)
            return made
    except IntegrityError:
        raise _duplicate() from None


def update_address(*, enterprise_id: int, customer_id: int, address_id: int, fields: dict[str, str],
                   make_default: bool = False) -> MallAddress:
    clean = clean_address(**fields)
    try:
        with transaction.atomic():
            book = _locked_book(enterprise_id, customer_id)
            row = _mine(book, address_id)
            for name, value in clean.items():
                setattr(row, name, value)
            row.save(update_fields=list(clean))
            if make_default:
                _make_default(book, row)
            return row
    except IntegrityError:
        raise _duplicate() from None


@transaction.atomic
def set_default_address(*, enterprise_id: int, customer_id: int, address_id: int) -> MallAddress:
    book = _locked_book(enterprise_id, customer_id)
    row = _mine(book, address_id)
    _make_default(book, row)
    return row


@transaction.atomic
def delete_address(*, enterprise_id: int, customer_id: int, address_id: int) -> None:
    """Delete one address; when it was the default, the newest remaining one becomes the default."""
    book = _locked_book(enterprise_id, customer_id)
    row = _mine(book, address_id)
    row.delete()
    rest = sorted((a for a in book if a.pk != row.pk), key=lambda a: (a.created_at, a.pk))
    if row.is_default and rest:
        _make_default(rest, rest[-1])
