"""What the segment builder page needs to offer: every condition type with its translated label and the choices
its fields take (the viewer's tags, stores, staff, groups, products, categories, segments, event types and their
properties). Rendered into the page as JSON; the builder script (static/audiences/builder.js) draws the form."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from siyu.audiences import queries
from siyu.audiences.context import _property_kinds
from siyu.audiences.rules import LIFECYCLE_STAGES, RFM_CELLS
from siyu.org.scope import Scope


def condition_labels() -> dict[str, str]:
    return {
        "group": _("Group of conditions"), "gender": _("Gender"), "age": _("Age"), "region": _("Region"),
        "home_store": _("Home store"), "source": _("Came from channel"), "created": _("Became a customer"),
        "reachable": _("Reachable by"), "opted_out": _("Opted out of marketing"), "followed_by": _("Followed by staff"),
        "added_via": _("Added via channel code"), "in_group": _("In WeCom group"), "tags": _("Tags"),
        "event": _("Did an event"), "event_time": _("First / last time of an event"),
        "sequence": _("Did A then B"), "purchased": _("Bought products / categories"),
        "order_count": _("Number of orders"), "spend": _("Amount spent"), "aov": _("Average order value"),
        "last_order": _("Last order"), "rfm_cell": _("RFM cell"), "rfm_score": _("RFM score"),
        "lifecycle": _("Lifecycle stage"), "segment": _("Member of a segment"), "bucket": _("Random bucket"),
    }


def rfm_cell_labels() -> dict[str, str]:
    return {
        "important_value": _("Important value"), "important_develop": _("Important to develop"),
        "important_keep": _("Important to keep"), "important_win_back": _("Important to win back"),
        "general_value": _("General value"), "general_develop": _("General to develop"),
        "general_keep": _("General to keep"), "general_win_back": _("General to win back"),
    }


def stage_labels() -> dict[str, str]:
    return {"new": _("New"), "active": _("Active"), "silent": _("Silent"), "at_risk": _("At risk"),
            "churned": _("Churned"), "won_back": _("Won back")}


def ui_words() -> dict[str, str]:
    return {
        "all": _("All of"), "any": _("Any of"), "not": _("Exclude (NOT)"), "add": _("+ Condition"),
        "addGroup": _("+ Group"), "remove": _("Remove"), "allTime": _("All time"), "lastDays": _("Last N days"),
        "between": _("Between dates"), "days": _("days"), "atLeast": _("at least"), "atMost": _("at most"),
        "exactly": _("exactly"), "times": _("times"), "property": _("Property"), "equals": _("equals"),
        "notEquals": _("does not equal"), "oneOf": _("is one of"), "addFilter": _("+ Property filter"),
        "first": _("first time"), "last": _("last time"), "before": _("before"), "after": _("after"),
        "daysAgo": _("days ago"), "onDay": _("on day"), "then": _("then"), "withinHours": _("within (hours)"),
        "min": _("min"), "max": _("max"), "prefix": _("starts with"), "in": _("is one of"),
        "commaSeparated": _("comma separated"), "anyStatus": _("any relationship status"),
        "hasAny": _("has any of"), "hasAll": _("has all of"), "hasNone": _("has none of"), "yuan": _("yuan"),
        "gte": _("at least"), "lte": _("at most"), "salt": _("salt"), "buckets": _("buckets"),
        "from": _("from"), "to": _("to"), "choose": _("Choose…"), "empty": _("No conditions yet: add one."),
        "orders": _("orders"), "dimension": _("dimension"),
    }


def builder_context(scope: Scope) -> dict[str, Any]:
    from siyu.catalog import queries as catalog_queries
    from siyu.channels.wecom import queries as wecom_queries
    from siyu.console import labels
    from siyu.customers import events as event_types
    from siyu.customers import queries as customer_queries
    from siyu.org import queries as org_queries

    hq = Scope.hq(scope.enterprise_id, label="builder")
    events = []
    for name in event_types.registered_names():
        kinds = _property_kinds(name) or {}
        events.append({"value": name, "label": str(labels.event_label(name)), "properties": sorted(kinds)})
    return {
        "types": condition_labels(),
        "words": ui_words(),
        "genders": [{"value": v, "label": str(label)} for v, label in customer_queries.Genders.choices],
        "channels": [{"value": v, "label": str(label)} for v, label in customer_queries.Channels.choices],
        "events": events,
        "tags": [{"value": t.pk, "label": f"{t.group.name} / {t.name}"} for t in customer_queries.tags(scope)[:1000]],
        "stores": [{"value": s.pk, "label": s.name} for s in org_queries.stores(scope)[:1000]],
        "staff": [{"value": s.pk, "label": s.name} for s in org_queries.staff(scope)[:2000]],
        "groups": [{"value": g.pk, "label": g.name or g.chat_id} for g in wecom_queries.groups(scope)[:1000]],
        "products": [{"value": p.pk, "label": p.name} for p in catalog_queries.products(hq).order_by("name")[:1000]],
        "categories": [{"value": c.pk, "label": c.name} for c in catalog_queries.categories(hq).order_by("name")],
        "segments": [{"value": s.pk, "label": s.name} for s in queries.segments(scope)[:500]],
        "cells": [{"value": c, "label": rfm_cell_labels()[c]} for c in RFM_CELLS],
        "stages": [{"value": s, "label": stage_labels()[s]} for s in LIFECYCLE_STAGES],
    }
