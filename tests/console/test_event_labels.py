"""Every event type an app registers has a label the console shows (in Chinese), not its stored name."""

from __future__ import annotations

from django.utils import translation

from siyu.console.labels import EVENT_LABELS, event_label
from siyu.customers import events


def test_every_registered_event_type_has_a_translated_label() -> None:
    registered = set(events._REGISTRY)  # noqa: SLF001 - the registry apps fill on start
    assert registered - set(EVENT_LABELS) == set()
    with translation.override("en"):
        english = {name: event_label(name) for name in registered}
    with translation.override("zh-hans"):
        untranslated = sorted(name for name in registered if event_label(name) == english[name])
    assert untranslated == []
