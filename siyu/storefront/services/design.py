"""Store design (店铺装修): save a page's draft, publish it as a new version, roll back to any published version.

HQ designs every page; a store manager designs their own store's variant. A draft is saved only when it is a valid
document (the schema, then the ids it names are the brand's), and publishing checks it again, so a broken page is
never served. Versions are append-only: publishing takes the page row's lock and the next number (the unique
(page, number) constraint backs it), a rollback publishes an older document again as the next version. Both are
audited."""

from __future__ import annotations

import json
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_

from siyu.catalog import queries as catalog_queries
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.org import queries as org_queries
from siyu.org.models import Role
from siyu.org.scope import Scope
from siyu.promotions import queries as promotion_queries
from siyu.storefront import page_schema
from siyu.storefront.models import StorePage, StorePageVersion
from siyu.storefront.page_schema import Problem


class PageInvalid(ValidationFailed):
    """A document that fails the schema or names ids the brand does not have: every problem with its JSON path."""

    def __init__(self, problems: list[Problem]) -> None:
        first = problems[0]
        super().__init__(_("the page is not valid: %(path)s: %(message)s") % {"path": first.path,
                                                                             "message": first.message},
                         field=first.path, code="invalid_page")
        self.problems = problems

    def as_dict(self) -> dict[str, Any]:
        body = super().as_dict()
        body["errors"] = [{"path": p.path, "message": p.message} for p in self.problems]
        return body


def can_design(scope: Scope, store_id: int | None) -> bool:
    if scope.is_hq:
        return True
    return store_id is not None and scope.role == Role.STORE_MANAGER and store_id in scope.store_ids


def require_designer(scope: Scope, store_id: int | None) -> None:
    if not can_design(scope, store_id):
        raise PermissionDenied(_("only HQ, or a store's manager for their store, can design mall pages"),
                               code="forbidden")


def _reference_problems(enterprise_id: int, page: page_schema.PageDocument) -> list[Problem]:
    """The ids a valid document names, checked against the brand's rows (three queries, whatever the page holds)."""
    hq = Scope.hq(enterprise_id, label="store design")
    product_ids = {i for c in page.components if c.type == "product_grid" for i in c.product_ids}
    category_ids = {c.category_id for c in page.components if c.type == "product_grid" and c.category_id}
    template_ids = {i for c in page.components if c.type == "coupon_strip" for i in c.template_ids}
    products = set(catalog_queries.products(hq).filter(pk__in=product_ids).values_list("pk", flat=True))
    categories = set(catalog_queries.categories(hq).filter(pk__in=category_ids).values_list("pk", flat=True))
    templates = set(promotion_queries.coupon_templates(hq).filter(pk__in=template_ids).values_list("pk", flat=True))
    problems: list[Problem] = []
    for n, c in enumerate(page.components):
        at = f"components[{n}]"
        if c.type == "product_grid":
            if c.source == "products" and not c.product_ids:
                problems.append(Problem(f"{at}.product_ids", str(_("choose at least one product"))))
            if c.source == "category" and c.category_id is None:
                problems.append(Problem(f"{at}.category_id", str(_("choose a category"))))
            if c.source == "category" and c.category_id is not None and c.category_id not in categories:
                problems.append(Problem(f"{at}.category_id", str(_("no such category"))))
            problems += [Problem(f"{at}.product_ids[{i}]", str(_("no such product")))
                         for i, pid in enumerate(c.product_ids) if pid not in products]
        elif c.type == "coupon_strip":
            problems += [Problem(f"{at}.template_ids[{i}]", str(_("no such coupon")))
                         for i, tid in enumerate(c.template_ids) if tid not in templates]
    return problems


def validate_document(*, enterprise_id: int, document: Any) -> dict[str, Any]:
    """The document as stored (normalised), or PageInvalid with every problem and its path."""
    if len(json.dumps(document, ensure_ascii=False).encode()) > page_schema.MAX_DOCUMENT_BYTES:
        raise ValidationFailed(_("a page may hold at most 64 KB"), field="document", code="page_too_large")
    parsed, problems = page_schema.parse(document)
    if parsed is None:
        raise PageInvalid(problems)
    problems = _reference_problems(enterprise_id, parsed)
    if problems:
        raise PageInvalid(problems)
    return page_schema.dump(parsed)


def open_page(*, scope: Scope, store_id: int | None, key: str = "home") -> StorePage:
    """The page to design (HQ's, or a store's variant), made empty on first use."""
    require_designer(scope, store_id)
    if store_id is not None and not org_queries.stores(scope).filter(pk=store_id).exists():
        raise NotFound(_("store %(store_id)s not found") % {"store_id": store_id}, field="store_id")
    mine = StorePage.objects.filter(enterprise_id=scope.enterprise_id, key=key)
    mine = mine.filter(store__isnull=True) if store_id is None else mine.filter(store_id=store_id)
    found = mine.first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return StorePage.objects.create(enterprise_id=scope.enterprise_id, store_id=store_id, key=key,
                                            draft=page_schema.empty(), created_at=timezone.now())
    except IntegrityError:  # opened at the same moment elsewhere: that one
        return mine.get()


def _locked(scope: Scope, page_id: int) -> StorePage:
    page = StorePage.objects.select_for_update().filter(enterprise_id=scope.enterprise_id, pk=page_id).first()
    if page is None:
        raise NotFound(_("page %(page_id)s not found") % {"page_id": page_id}, field="page_id")
    require_designer(scope, page.store_id)
    return page


@transaction.atomic
def save_draft(*, scope: Scope, page_id: int, document: Any, base_revision: int | None = None,
               actor: Actor = None) -> StorePage:
    """Keep the editor's document as the draft. `base_revision` is the draft the editor started from: a save over
    someone else's newer save is refused (409), not silently lost."""
    page = _locked(scope, page_id)
    clean = validate_document(enterprise_id=scope.enterprise_id, document=document)
    if base_revision is not None and base_revision != page.draft_revision:
        raise Conflict(_("someone saved this page after you opened it; open it again"), field="base_revision",
                       code="stale_draft")
    page.draft, page.draft_revision, page.draft_saved_at = clean, page.draft_revision + 1, timezone.now()
    page.save(update_fields=["draft", "draft_revision", "draft_saved_at"])
    return page


def _next_version(page: StorePage, document: dict[str, Any], actor: Actor,
                  rolled_back_from: int | None = None) -> StorePageVersion:
    last = page.versions.aggregate(n=Max("number"))["n"] or 0
    user = audit.user_of(actor)
    version = StorePageVersion.objects.create(
        page=page, number=last + 1, document=document, published_at=timezone.now(),
        published_by=user.get_username() if user is not None else "system", rolled_back_from=rolled_back_from)
    page.published_version = version.number
    page.save(update_fields=["published_version"])
    return version


@transaction.atomic
def publish(*, scope: Scope, page_id: int, revision: int | None = None, actor: Actor = None) -> StorePageVersion:
    """Publish the saved draft as the next version. `revision` (the draft the publisher looked at) guards against
    publishing a draft someone else changed in between."""
    page = _locked(scope, page_id)
    if revision is not None and revision != page.draft_revision:
        raise Conflict(_("the draft changed after you opened it; look at it again before publishing"),
                       field="revision", code="stale_draft")
    clean = validate_document(enterprise_id=scope.enterprise_id, document=page.draft)
    if not clean["components"]:
        raise ValidationFailed(_("add at least one component before publishing"), field="components",
                               code="empty_page")
    version = _next_version(page, clean, actor)
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="store_page.publish", target_type="store_page",
                 target_id=page.pk, summary=audit.text(N_("mall page published as version %(version)s"),
                                                       version=version.number),
                 changes={"version": version.number, "store_id": page.store_id})
    return version


@transaction.atomic
def rollback(*, scope: Scope, page_id: int, version: int, actor: Actor = None) -> StorePageVersion:
    """Serve an earlier published version again: it is published anew as the next version (history only grows)."""
    page = _locked(scope, page_id)
    old = page.versions.filter(number=version).first()
    if old is None:
        raise NotFound(_("version %(version)s not found") % {"version": version}, field="version")
    made = _next_version(page, old.document, actor, rolled_back_from=old.number)
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="store_page.rollback", target_type="store_page",
                 target_id=page.pk, summary=audit.text(N_("mall page rolled back to version %(old)s (now version "
                                                          "%(version)s)"), old=old.number, version=made.number),
                 changes={"version": made.number, "rolled_back_from": old.number, "store_id": page.store_id})
    return made
