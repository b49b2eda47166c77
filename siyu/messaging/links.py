"""Tracked links in campaign texts: each http(s) link of a delivery's text is replaced at send by a short link of
its own, `/c/<token>` (a random, unguessable token, one per delivery and link), that redirects to the original.

- The original URLs are validated when the campaign is created (http or https, a real host, at most MAX_LINKS per
  text); the redirect goes only to the stored URL, never to anything the request names, so it is no open redirect.
- A click is counted on the delivery's link: the first click's time and a count. Repeated hits are cheap: a
  process-local cache skips the write inside CLICK_GAP_S, and the UPDATE itself only matches a link whose last
  counted click is older than that, so a page refreshed in a loop costs one read, not a write each time. HEAD
  requests, link previews and crawlers are sent on uncounted.
- Links are prepared for a whole claimed batch at once: one INSERT (conflicts ignored, so a retried send reuses the
  first tokens) and one read back.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from crawlerdetect import CrawlerDetect
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db.models import DateTimeField, F, Q, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from siyu.core.errors import ValidationFailed
from siyu.messaging.models import CampaignLink, Delivery

URL = re.compile(r"https?://[^\s<>\"'`，。！？；、）】」《》]+", re.IGNORECASE)
TOKEN = re.compile(r"[A-Za-z0-9_-]{16}")
MAX_LINKS = 5
MAX_URL = 500
CLICK_GAP_S = 10
_VALIDATE = URLValidator(schemes=["http", "https"])
_DETECT = CrawlerDetect()


def find(text: str) -> list[str]:
    """The http(s) links of a text, in order (trailing punctuation left out)."""
    return [m.group(0).rstrip(".,;:!?)") for m in URL.finditer(text)]


def check(text: str, *, field: str) -> None:
    """Refuse a text whose links would not redirect cleanly: each must be a valid http(s) URL."""
    urls = find(text)
    if len(urls) > MAX_LINKS:
        raise ValidationFailed(_("at most 5 links in a text"), field=field, code="too_many_links")
    for index, url in enumerate(urls):
        try:
            if len(url) > MAX_URL:
                raise ValidationError("too long")
            _VALIDATE(url)
        except ValidationError:
            raise ValidationFailed(_("this link is not a valid http(s) address"), field=field, index=index,
                                   code="invalid_url") from None


def short_url(token: str) -> str:
    base = str(getattr(settings, "SIYU_PUBLIC_URL", "") or "").rstrip("/")
    return base + reverse("campaign_link", args=[token])


def rewrite(text: str, tokens: dict[int, str]) -> str:
    """The text with its i-th link replaced by the short link of token i (links without a token stay)."""
    position = iter(range(MAX_URL))

    def swap(match: re.Match[str]) -> str:
        index = next(position)
        raw = match.group(0)
        url = raw.rstrip(".,;:!?)")
        return short_url(tokens[index]) + raw[len(url):] if index in tokens else raw

    return URL.sub(swap, text)


def prepare(items: Sequence[tuple[Delivery, str]], *, now: datetime) -> dict[int, dict[int, str]]:
    """Tokens for the links of each (delivery, template text): {delivery id: {position: token}}. Two statements
    for the batch whatever its size; a delivery that already has its links (a retry) keeps them."""
    rows = [CampaignLink(enterprise_id=d.enterprise_id, campaign_id=d.campaign_id, delivery_id=d.pk, position=i,
                         url=url, token=secrets.token_urlsafe(12), created_at=now)
            for d, text in items for i, url in enumerate(find(text)[:MAX_LINKS])]
    if not rows:
        return {}
    CampaignLink.objects.bulk_create(rows, ignore_conflicts=True)
    out: dict[int, dict[int, str]] = {}
    for delivery_id, position, token in CampaignLink.objects.filter(
            delivery_id__in={r.delivery_id for r in rows}).values_list("delivery_id", "position", "token"):
        out.setdefault(delivery_id, {})[position] = token
    return out


def is_robot(user_agent: str) -> bool:
    return not user_agent.strip() or bool(_DETECT.isCrawler(user_agent[:512]))


def open_link(token: str, *, at: datetime, count: bool) -> str | None:
    """The URL a token redirects to (None: no such link), counting the click when `count`."""
    if not TOKEN.fullmatch(token):
        return None
    found = CampaignLink.objects.filter(token=token).values_list("pk", "url").first()
    if found is None:
        return None
    pk, url = found
    if not url.lower().startswith(("https://", "http://")):
        return None
    if count and cache.add(f"siyu:campaign-link:{token}", 1, CLICK_GAP_S):
        CampaignLink.objects.filter(
            Q(last_clicked_at__isnull=True) | Q(last_clicked_at__lte=at - timedelta(seconds=CLICK_GAP_S)), pk=pk,
        ).update(clicks=F("clicks") + 1, last_clicked_at=at, first_clicked_at=Coalesce(
            F("first_clicked_at"), Value(at), output_field=DateTimeField()))
    return str(url)
