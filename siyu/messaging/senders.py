"""The one place a campaign's SMS leaves Siyu: the integrator swaps this for the SMS app's tracked send later.

The delivery's key travels as the provider's idempotency key, so a retry after a lost answer is one message."""

from __future__ import annotations

from django.conf import settings

from siyu.channels.sms.client import SmsError, SmsReceipt, send_text

__all__ = ["SmsError", "send_sms"]


def send_sms(*, phone: str, sign: str, text: str, key: str) -> SmsReceipt:
    return send_text(base_url=settings.SIYU_SMS_BASE_URL, phone=phone, sign=sign, text=text, key=key)
