"""Tracked links: a link material sent to a customer (or posted in a moment) carries a short signed redirect,
`/l/<token>`, instead of the target itself. Opening it records a click and sends the browser on; a paid order of the
customer within CONVERSION_DAYS of a click credits the material with a conversion.

- The token names the enterprise, the material and the customer (0 in a moment: nobody in particular), signed with
  an HMAC of the secret key truncated to 72 bits; a token that does not verify is a 404, so ids cannot be walked.
- A click counts once per material, customer and Shanghai day (`ContentUse.key`); for a link without a customer the
  visitor is a keyed hash of their address and user agent, never stored in clear. HEAD requests, link previews and
  crawlers (crawlerdetect's list, and an empty user agent) are sent on without counting.
- A conversion counts once per material and order, credited inside the transaction that marks the order paid (the
  orders app's paid hook), set-based over the customer's clicks.
"""

from __future__ import annotations

import base64
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from crawlerdetect import CrawlerDetect
from django.conf import settings
from django.db.models import Subquery
from django.urls import reverse
from django.utils.crypto import salted_hmac

from siyu.content.models import ContentUse, Material, MaterialKind, UseKind
from siyu.core.timeutil import local_day
from siyu.orders.models import Order

SALT = "siyu.content.link"
CONVERSION_DAYS = 7
_DETECT = CrawlerDetect()


@dataclass(frozen=True)
class LinkTarget:
    enterprise_id: int
    material_id: int
    customer_id: int | None


def _signature(payload: str) -> str:
    digest = salted_hmac(SALT, payload, secret=settings.SECRET_KEY, algorithm="sha256").digest()[:9]
    return base64.urlsafe_b64encode(digest).decode()


def token(*, enterprise_id: int, material_id: int, customer_id: int | None) -> str:
    payload = f"{enterprise_id:x}-{material_id:x}-{customer_id or 0:x}"
    return f"{payload}.{_signature(payload)}"


def path(*, enterprise_id: int, material_id: int, customer_id: int | None) -> str:
    return reverse("tracked_link", args=[token(enterprise_id=enterprise_id, material_id=material_id,
                                               customer_id=customer_id)])


def read(value: str) -> LinkTarget | None:
    """What a token names, or None when it does not verify (or is not a token at all)."""
    if len(value) > 80 or value.count(".") != 1:
        return None
    payload, signature = value.split(".")
    if not hmac.compare_digest(_signature(payload), signature):
        return None
    try:
        enterprise_id, material_id, customer_id = (int(part, 16) for part in payload.split("-"))
    except ValueError:
        return None
    return LinkTarget(enterprise_id, material_id, customer_id or None)


def is_robot(user_agent: str) -> bool:
    return not user_agent.strip() or bool(_DETECT.isCrawler(user_agent[:512]))


def target_url(link: LinkTarget) -> str | None:
    """Where the link goes: the material's URL (a link material of that enterprise), or None."""
    url = Material.objects.filter(pk=link.material_id, enterprise_id=link.enterprise_id, kind=MaterialKind.LINK) \
        .values_list("url", flat=True).first()
    return url if url and url.startswith(("https://", "http://")) else None


def visitor(ip: str, user_agent: str) -> str:
    """A keyed hash of who opened a link nobody in particular was sent (a moment's)."""
    return salted_hmac(f"{SALT}.visitor", f"{ip}|{user_agent[:512]}", secret=settings.SECRET_KEY,
                       algorithm="sha256").hexdigest()[:16]


def record_click(link: LinkTarget, *, at: datetime, ip: str, user_agent: str) -> bool:
    """One click per material, customer (or visitor) and Shanghai day. True when this one counted."""
    who = str(link.customer_id) if link.customer_id else f"v{visitor(ip, user_agent)}"
    key = f"click:{link.material_id}:{who}:{local_day(at):%Y%m%d}"
    _row, created = ContentUse.objects.get_or_create(
        enterprise_id=link.enterprise_id, key=key,
        defaults={"material_id": link.material_id, "kind": UseKind.CLICKED, "customer_id": link.customer_id})
    return created


def credit_conversions(enterprise_id: int, order_id: int, paid_at: datetime) -> int:
    """The orders app's paid hook: every material whose tracked link the customer clicked in the CONVERSION_DAYS
    before payment gets one conversion for this order (once, whichever path marked it paid, however often).
    Returns how many materials the order converted for."""
    buyer = Order.objects.filter(pk=order_id, enterprise_id=enterprise_id).values("customer_id")[:1]
    rows = set(ContentUse.objects.filter(  # one statement: the buyer is a subquery, no clicks is no rows
        enterprise_id=enterprise_id, customer_id=Subquery(buyer), kind=UseKind.CLICKED, material__isnull=False,
        created_at__gte=paid_at - timedelta(days=CONVERSION_DAYS), created_at__lte=paid_at,
    ).values_list("material_id", "customer_id").distinct())
    if not rows:
        return 0
    customer_id = next(iter(rows))[1]
    clicked = {material_id for material_id, _customer in rows}
    ContentUse.objects.bulk_create([
        ContentUse(enterprise_id=enterprise_id, material_id=material_id, kind=UseKind.CONVERTED,
                   customer_id=customer_id, key=f"conv:{material_id}:{order_id}") for material_id in sorted(clicked)],
        ignore_conflicts=True)
    return len(clicked)
