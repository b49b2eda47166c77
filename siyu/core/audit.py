"""The audit log's writer and reader.

A summary is stored as a message in the source language (its msgid, marked with `gettext_noop` where it is written so
the catalogue holds it) and its values, never as rendered English: the console and the API render it in the reader's
language when it is read, with the reader's plural rules. The English rendering is kept beside it (`summary`) so old
tools and the log's text search still read it; rows written before messages existed have only that, and show it.

    audit.record(..., summary=audit.text(N_("%(orders)s orders imported"), orders=n))
    audit.record(..., summary=audit.ntext(N_("%(count)s customer tagged"), N_("%(count)s customers tagged"), n))
    audit.record(..., summary=product.name)       # a value (a name, a number) is stored as it is

A value that is itself a word to translate (a status, a role) is passed as `audit.label(Status.RUNNING.label)` (or
`audit.Label(N_("Running"))`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.utils import translation
from django.utils.translation import gettext, ngettext, pgettext
from django_stubs_ext import StrPromise

from siyu.core.models import AuditEntry

Actor = AbstractBaseUser | AnonymousUser | None

_LABEL = "__label__"


@dataclass(frozen=True)
class Label:
    """A value that is a word in the source language (a status, a role): translated when the summary is read."""

    msgid: str
    context: str = ""  # the msgctxt, for a word translated differently by context (pgettext)


@dataclass(frozen=True)
class Text:
    """A summary to render in the reader's language: a msgid (and its plural), and the values it names."""

    message: str
    plural: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)

    def stored_params(self) -> dict[str, Any]:
        return {key: (_stored_label(value) if isinstance(value, Label) else _plain(value))
                for key, value in self.params.items()}

    def english(self) -> str:
        with translation.override(None):
            return render(self.message, self.plural, self.stored_params())

    def renderings(self) -> str:
        """The summary in every console language but English (one a line): what the text search matches besides
        the English `summary`."""
        return search_text(self.message, self.plural, self.stored_params())


def search_text(message: str, plural: str, params: Mapping[str, Any]) -> str:
    """A stored message rendered in each console language other than English, one a line (for the text search)."""
    lines = []
    for code, _name in settings.LANGUAGES:
        if code.split("-")[0] == "en":
            continue
        with translation.override(code):
            lines.append(render(message, plural, params))
    return "\n".join(dict.fromkeys(lines))


def _stored_label(value: Label) -> dict[str, str]:
    return {_LABEL: value.msgid, "context": value.context} if value.context else {_LABEL: value.msgid}


def _plain(value: Any) -> Any:
    """What JSON can hold: numbers and text as they are, anything else (a date, a Decimal, a lazy string) as text."""
    return value if isinstance(value, int | float | str | bool) or value is None else str(value)


def label(value: str | StrPromise) -> Label:
    """A value that is a word: an enum's label (a lazy translation) or a msgid; stored in English, read translated."""
    with translation.override(None):
        return Label(str(value))


def text(message: str, /, **params: Any) -> Text:
    """A summary without plural forms; `message` is a msgid marked with gettext_noop at the call site."""
    return Text(message=message, params=params)


def ntext(singular: str, plural: str, count: int, /, **params: Any) -> Text:
    """A summary whose wording follows `count` (passed to the message as %(count)s)."""
    return Text(message=singular, plural=plural, params={"count": count, **params})


def _value(value: Any) -> Any:
    if isinstance(value, dict) and _LABEL in value:
        context = value.get("context")
        return pgettext(str(context), str(value[_LABEL])) if context else gettext(str(value[_LABEL]))
    return value


def render(message: str, plural: str, params: Mapping[str, Any]) -> str:
    """A stored message in the language active now; a message whose values no longer fit it shows untranslated
    rather than failing the page."""
    values = {key: _value(value) for key, value in params.items()}
    if plural:
        count = values.get("count")
        template = ngettext(message, plural, count if isinstance(count, int) else 0)
    else:
        template = gettext(message)
    try:
        return template % values if values else template
    except (KeyError, TypeError, ValueError):
        return message


def summary_of(entry: AuditEntry) -> str:
    """An audit row's summary in the reader's language (the stored English text for rows written before messages)."""
    if entry.message:
        return render(entry.message, entry.message_plural, entry.params if isinstance(entry.params, dict) else {})
    return entry.summary


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
    summary: str | Text = "",
    changes: dict[str, Any] | None = None,
) -> AuditEntry:
    """Write one audit row. `enterprise_id` is required: the audit log is read per enterprise, and a row without one
    would be shown to nobody. `summary` is a Text (words, rendered for each reader) or a plain value (a name)."""
    user = user_of(actor)
    if isinstance(summary, Text):
        message, plural, params, english = summary.message, summary.plural, summary.stored_params(), summary.english()
        rendered = summary.renderings()
    else:
        message, plural, params, english, rendered = "", "", {}, str(summary), ""
    return AuditEntry.objects.create(
        enterprise_id=enterprise_id,
        actor=user,
        actor_label=user.get_username() if user is not None else "system",
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        summary=english[:255],
        message=message[:255],
        message_plural=plural[:255],
        params=params,
        search_text=rendered,
        changes=changes or {},
    )
