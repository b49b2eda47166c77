"""What the Official Account errcodes Siyu meets mean, in words an operator reads (translated), for every console place
that shows a refusal: menu pushes, QR tickets, follower syncs, template-message sends, the set-up connection check.

The table holds the codes our protocol notes document (shared/protocol/oa.md §12 and the customer-message section);
an unknown code is shown as itself. Stored refusals read "40001: invalid credential" (`OaApiError`'s text).
"""

from __future__ import annotations

import re

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from siyu.channels.common.errcodes import ErrcodeTable

MEANINGS: dict[int, Promise] = {
    -1: _("The Official Account platform is busy; it will be tried again"),
    40001: _("The AppSecret is wrong, or the access token is invalid"),
    40002: _("The grant type is wrong"),
    40003: _("The OpenID is invalid: the user does not follow this account, or belongs to another"),
    40013: _("The AppID is wrong"),
    40014: _("The access token is invalid"),
    40164: _("This server's IP is not on the account's IP whitelist"),
    41001: _("The access token is missing"),
    42001: _("The access token has expired"),
    43004: _("The user must follow the account first"),
    44002: _("The request body was empty"),
    45009: _("The account's daily API call limit was reached"),
    45011: _("Calls are too frequent; try again shortly"),
    45015: _("Outside the 48-hour reply window: the user has not interacted recently"),
    45047: _("Too many customer-service messages to this user"),
    47001: _("The platform could not parse the request"),
    48001: _("The account is not authorised for this API"),
    48002: _("The follower has turned messages off"),
    48004: _("This API is banned for the account"),
    50001: _("The user has not authorised this API"),
    50002: _("The user is restricted"),
    61451: _("A parameter of the request is invalid"),
}

DETAILS: dict[str, Promise] = {
    "needs a token": _("needs a working access token first"),
    "subscription accounts have no template messages": _("subscription accounts have no template messages"),
}

_LEADING_CODE = re.compile(r"^\s*(?:errcode\s*)?(-?\d{1,6})\s*(?::|\b)")


_TABLE = ErrcodeTable(MEANINGS)
meaning = _TABLE.meaning
describe = _TABLE.describe


def describe_text(text: str) -> str:
    """A stored refusal ("45015: response out of time limit") as its translated meaning; any other text as it is."""
    if not text:
        return ""
    known = DETAILS.get(text)
    if known is not None:
        return str(known)
    found = _LEADING_CODE.match(text)
    if found and meaning(found.group(1)):
        return describe(found.group(1))
    return text
