from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User

from siyu.core.models import AuditEntry

Actor = AbstractBaseUser | AnonymousUser | None


def user_of(actor: Actor) -> User | None:
    """The acting user when there is one (a worker or the system acts as None)."""
    return actor if isinstance(actor, User) else None


def record(
    *,
    enterprise_id: int,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: object,
    summary: str = "",
    changes: dict[str, Any] | None = None,
) -> AuditEntry:
    """Write one audit row. `enterprise_id` is required: the audit log is read per enterprise, and a row without one
    would be shown to nobody."""
    user = user_of(actor)
    return AuditEntry.objects.create(
        enterprise_id=enterprise_id,
        actor=user,
        actor_label=user.get_username() if user is not None else "system",
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        summary=summary[:255],
        changes=changes or {},
    )
