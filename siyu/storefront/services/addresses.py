"""The mall customer's address book: an address used at checkout is kept (once) for next time."""

from __future__ import annotations

import re
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from siyu.core.errors import ValidationFailed
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
