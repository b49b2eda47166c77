"""Where a WeCom attachment (a group welcome's, a group SOP message's) may come from besides being typed in: a
registry other apps fill in. The material library (siyu.content) imports this app, so this app cannot import it;
content registers itself here at start-up and the forms offer its materials as a picker.

A source answers two things: the items an operator may pick (within their scope) and, for one item, the attachment
as the platform takes it (`{"msgtype": "image", "image": {"pic_url": ...}}`, a link or a mini-program card).
Resolving may upload to WeCom, so it is called before the service's transaction, never inside one.
"""

from __future__ import annotations

from typing import Any, Protocol

from django.utils.translation import gettext as _

from siyu.channels.models import ChannelAccount
from siyu.core.errors import NotFound
from siyu.org.scope import Scope


class AttachmentSource(Protocol):
    def choices(self, scope: Scope) -> list[tuple[int, str]]:
        """(item id, label) of the items this operator may attach, newest first."""

    def resolve(self, scope: Scope, item_id: int, *, account: ChannelAccount) -> dict[str, Any]:
        """The item as one platform attachment; raises NotFound outside the scope, ValidationFailed when the item
        cannot be an attachment."""


_SOURCES: dict[str, AttachmentSource] = {}


def register_attachment_source(name: str, source: AttachmentSource) -> None:
    _SOURCES[name] = source


def unregister_attachment_source(name: str) -> None:
    _SOURCES.pop(name, None)


def names() -> list[str]:
    return sorted(_SOURCES)


def choices(scope: Scope, name: str) -> list[tuple[int, str]]:
    source = _SOURCES.get(name)
    return source.choices(scope) if source is not None else []


def resolve(scope: Scope, name: str, item_id: int, *, account: ChannelAccount, field: str) -> dict[str, Any]:
    source = _SOURCES.get(name)
    if source is None:
        raise NotFound(_("no attachment source %(name)s") % {"name": name}, field=field, code="no_source")
    return source.resolve(scope, item_id, account=account)
