"""Who sees a customer's full phone number.

HQ and managers (region, store) see it; store staff see it masked (138****5678): they reach their customers through
WeCom, and a staff member who leaves must not walk away with the store's phone list. The same rule applies to the
API, the console pages and the CSV export. Search by phone still works for everyone inside their scope.
"""

from __future__ import annotations

from siyu.org.scope import Scope


def sees_full_phone(scope: Scope | None) -> bool:
    return scope is not None and scope.is_manager


def mask_phone(phone: str) -> str:
    """Keep the first 3 and last 4 digits of a mobile number; shorter numbers keep only their last 2."""
    if not phone:
        return ""
    if len(phone) >= 8:
        return f"{phone[:3]}{'*' * (len(phone) - 7)}{phone[-4:]}"
    return f"{'*' * max(len(phone) - 2, 1)}{phone[-2:]}" if len(phone) > 2 else "*" * len(phone)


def phone_for(scope: Scope | None, phone: str) -> str:
    return phone if sees_full_phone(scope) else mask_phone(phone)
