"""What the WeCom errcodes Siyu meets mean, in words an operator reads (translated), for every console place that shows
an errcode: mass-send senders and recipients, moments, inheritance items, group inheritance, the outbox.

The table holds the codes our protocol notes document (shared/protocol/wecom-api.md §errors, wecom-limits.md,
wecom-jssdk-sidebar-groups.md); an unknown code is shown as itself. Recipient reasons (`not_a_friend`, `over_limit`,
`rejected`, `errcode N`) are mapped the same way.
"""

from __future__ import annotations

import re

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from siyu.channels.common.errcodes import ErrcodeTable

MEANINGS: dict[int, Promise] = {
    40001: _("The app secret is wrong"),
    40003: _("The staff member's WeCom account is invalid, resigned or deleted"),
    40007: _("The media file is invalid or has expired (WeCom keeps uploaded media for 3 days)"),
    40013: _("The corp ID is wrong"),
    40014: _("The access token is invalid"),
    40058: _("WeCom refused a parameter of the request"),
    40063: _("A required value was empty"),
    40068: _("The tag or tag group does not exist in WeCom"),
    40071: _("A tag with this name already exists"),
    40091: _("The app secret is invalid"),
    40093: _("The JS-SDK signature is wrong"),
    40096: _("WeCom does not know this customer (external contact)"),
    40097: _("The staff member handing over has not resigned"),
    40098: _("The successor is not real-name verified"),
    40099: _("The successor has reached the external-contact limit"),
    40100: _("The customer is already being transferred"),
    40129: _("The customer is being transferred"),
    41001: _("The access token is missing"),
    41048: _("No customer this sender can reach"),
    41049: _("The welcome code is missing"),
    41050: _("The welcome code has expired (20 s)"),
    41051: _("The customer is already chatting (welcome code used)"),
    41053: _("The customer has not agreed to chat archiving"),
    41054: _("The staff member has not activated WeCom"),
    41055: _("The corp has reached the template limit"),
    41058: _("Only the creator may change this template"),
    41059: _("The moment ID is missing"),
    41060: _("The moment ID is invalid"),
    41061: _("The moment was not posted by this staff member"),
    41062: _("The staff member has not posted the moment yet"),
    41063: _("WeCom is still dispatching the mass message"),
    41064: _("Too many attachments"),
    42001: _("The access token has expired"),
    42012: _("The JS-SDK ticket cannot be used for this app"),
    45009: _("WeCom's call-frequency limit was reached"),
    45033: _("WeCom's concurrency limit was reached"),
    48002: _("The app is not authorised for this API (customer contact)"),
    48009: _("Contacts API restricted: add this server's IP to the app's trusted IPs"),
    60011: _("Outside the app's visible range"),
    60111: _("The WeCom user does not exist"),
    80001: _("The page's domain is not trusted by the app"),
    81017: _("Too many staff members in the request"),
    84061: _("The staff member has no contact with this customer"),
    84074: _("The staff member has no customer-contact permission"),
    90500: _("The group owner has not resigned"),
    90501: _("Not a customer group"),
    90502: _("The group owner has already resigned"),
    90503: _("The group is full with 99 WeChat members: confirm the transfer in the WeCom client first"),
    90504: _("The new owner is already the owner"),
    90507: _("The group is already being inherited"),
    90508: _("The group has already been inherited"),
    90509: _("Not a WeCom customer group"),
    90510: _("The corp had no active users for a year"),
}

REASONS: dict[str, Promise] = {
    "not_a_friend": _("The customer is no longer the sender's contact"),
    "over_limit": _("The customer has received 4 mass messages this month"),
    "rejected": _("WeCom refused the message"),
}

_ERRCODE_IN_TEXT = re.compile(r"(?:^|[\s:])(-?\d{5})(?:\b)")


_TABLE = ErrcodeTable(MEANINGS)
meaning = _TABLE.meaning
describe = _TABLE.describe


def describe_text(text: str) -> str:
    """An error text such as "externalcontact/transfer_customer: 40096 invalid external userid" or a recipient reason
    ("not_a_friend", "errcode 41048"): the translated meaning of the first errcode in it, else the text as it is."""
    if not text:
        return ""
    reason = REASONS.get(text)
    if reason is not None:
        return str(reason)
    found = _ERRCODE_IN_TEXT.search(text)
    if found and meaning(found.group(1)):
        return describe(found.group(1))
    return text
