from __future__ import annotations

import re

from django.utils.translation import gettext_lazy as _

from siyu.core.errors import ValidationFailed

_MOBILE = re.compile(r"^1[3-9]\d{9}$")


def normalize_phone(raw: str, *, field: str = "phone", index: int | None = None) -> str:
    """A mainland China mobile number as 11 digits; "+86", spaces and dashes are accepted and dropped."""
    digits = re.sub(r"[\s\-()]", "", raw or "")
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    if not _MOBILE.match(digits):
        raise ValidationFailed(
            _("%(raw)s is not a valid mainland China mobile number (11 digits starting 13-19)") % {"raw": repr(raw)},
            field=field,
            index=index,
            code="invalid_phone",
        )
    return digits
