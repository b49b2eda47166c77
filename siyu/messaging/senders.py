"""The one place a campaign's SMS leaves Siyu: through the SMS app's tracked send (`channels.sms.services.send_sms`).

The delivery's key is the SMS row's key, so a retry after a lost answer or a killed worker finds the same row, and the
provider is given that row's own key (`siyu-sms:<row id>`): one message whatever happens. The row is what the
provider's delivery receipts move on (sent, delivered, failed); `apps.py` registers the receipt hook that carries
them to the delivery (`services.apply_sms_receipt`)."""

from __future__ import annotations

from dataclasses import dataclass

from siyu.channels.sms import services as sms_services
from siyu.channels.sms.models import SmsPurpose, SmsStatus
from siyu.core.errors import DomainError

__all__ = ["SmsError", "SmsReceipt", "send_sms"]


class SmsError(Exception):
    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class SmsReceipt:
    message_id: str
    status: str  # sent / delivered / failed (the SMS row's status after the send)


def send_sms(*, enterprise_id: int, customer_id: int, phone: str, sign: str, text: str, key: str) -> SmsReceipt:
    """Send once per key. Raises SmsError: retryable when the provider could not be reached (the row stays queued;
    the same key later sends it), terminal when it refused the message or consent forbids it."""
    try:
        row = sms_services.send_sms(enterprise_id=enterprise_id, customer_id=customer_id, phone=phone, text=text,
                                    key=key, purpose=SmsPurpose.MARKETING, sign=sign)
    except DomainError as exc:  # no consent, a bad number, a customer erased since planning
        raise SmsError(exc.message, retryable=False) from exc
    if row.status == SmsStatus.QUEUED:
        raise SmsError(row.error or "SMS provider unreachable", retryable=True)
    if row.status == SmsStatus.FAILED:
        raise SmsError(row.error or "SMS provider refused the message", retryable=False)
    return SmsReceipt(message_id=row.provider_message_id or f"sms:{row.pk}", status=row.status)
