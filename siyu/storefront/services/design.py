"""Store design (店铺装修): save a page's draft, publish it as a new version, roll back to any published version.

HQ designs every page; a store manager designs their own store's variant. A draft is saved only when it is a valid
document (the schema, then the ids it names are the brand's), and publishing checks it again, so a broken page is
never served. Versions are append-only: publishing takes the page row's lock and the next number (the unique
(page, number) constraint backs it), a rollback publishes an older document again as the next version. Both are
audited."""

from __future__ import annotations

import json
from dataclasses import dataclass
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
from siyu.storefront import queries as storefront_queries
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
        body["errors"] = [{"path": p.path, "message": p.message, "code": p.code} for p in self.problems]
        return body


def can_design(scope: Scope, store_id: int | None) -> bool:
    if scope.is_hq:
        return True
    return store_id is not None and scope.role == Role.STORE_MANAGER and store_id in scope.store_ids


def require_designer(scope: Scope, store_id: int | None) -> None:
    if not can_design(scope, store_id):
        raise PermissionDenied(_("only HQ, or a store's manager for their store, can design mall pages"),
                               code="forbidden")


@dataclass(frozen=True)
class _Known:
    """The brand's ids among those a document names (one query per kind, whatever the page holds)."""

    products: set[int]
    categories: set[int]
    templates: set[int]
    flash_sales: set[int]
    group_buys: set[int]
    mall_prefix: str


def _named(page: page_schema.PageDocument, kind: str, attr: str) -> set[int]:
    found: set[int] = set()
    for c in page.components:
        if c.type == kind:
            value = getattr(c, attr)
            found |= set(value) if isinstance(value, list) else ({value} if value is not None else set())
    return found


def _known(enterprise_id: int, page: page_schema.PageDocument) -> _Known:
    hq = Scope.hq(enterprise_id, label="store design")
    categories = _named(page, "product_grid", "category_id") | _named(page, "category_nav", "category_ids")

    def ids(qs: Any, wanted: set[int]) -> set[int]:
        return set(qs.filter(pk__in=wanted).values_list("pk", flat=True)) if wanted else set()

    return _Known(
        products=ids(catalog_queries.products(hq), _named(page, "product_grid", "product_ids")),
        categories=ids(catalog_queries.categories(hq), categories),
        templates=ids(promotion_queries.coupon_templates(hq), _named(page, "coupon_strip", "template_ids")),
        flash_sales=ids(promotion_queries.flash_sales(hq), _named(page, "flash_sale", "flash_sale_id")),
        group_buys=ids(promotion_queries.group_buys(hq), _named(page, "group_buy", "group_buy_ids")),
        mall_prefix=f"/m/{storefront_queries.mall_code(enterprise_id)}/" if _named_zones(page) else "",
    )


def _named_zones(page: page_schema.PageDocument) -> bool:
    return any(c.type == "hotzone" for c in page.components)


def _unknown(at: str, field: str, ids: list[int], known: set[int], message: str, code: str) -> list[Problem]:
    return [Problem(f"{at}.{field}[{i}]", message, code) for i, v in enumerate(ids) if v not in known]


def _grid_problems(at: str, c: Any, known: _Known) -> list[Problem]:
    problems: list[Problem] = []
    if c.source == "products" and not c.product_ids:
        problems.append(Problem(f"{at}.product_ids", str(_("choose at least one product")), "required"))
    if c.source == "category" and c.category_id is None:
        problems.append(Problem(f"{at}.category_id", str(_("choose a category")), "required"))
    if c.source == "category" and c.category_id is not None and c.category_id not in known.categories:
        problems.append(Problem(f"{at}.category_id", str(_("no such category")), "unknown_category"))
    return problems + _unknown(at, "product_ids", c.product_ids, known.products, str(_("no such product")),
                               "unknown_product")


def _component_problems(at: str, c: Any, known: _Known) -> list[Problem]:
    if c.type == "product_grid":
        return _grid_problems(at, c, known)
    if c.type == "coupon_strip":
        return _unknown(at, "template_ids", c.template_ids, known.templates, str(_("no such coupon")),
                        "unknown_coupon")
    if c.type == "category_nav":
        return _unknown(at, "category_ids", c.category_ids, known.categories, str(_("no such category")),
                        "unknown_category")
    if c.type == "group_buy":
        return _unknown(at, "group_buy_ids", c.group_buy_ids, known.group_buys, str(_("no such group buy")),
                        "unknown_group_buy")
    if c.type == "flash_sale" and c.flash_sale_id not in known.flash_sales:
        return [Problem(f"{at}.flash_sale_id", str(_("no such flash sale")), "unknown_flash_sale")]
    if c.type == "hotzone":
        return [Problem(f"{at}.zones[{j}].link", str(_("a hot zone links only to this mall's own pages (/m/…)")),
                        "not_mall_path") for j, z in enumerate(c.zones) if not z.link.startswith(known.mall_prefix)]
    return []


def _reference_problems(enterprise_id: int, page: page_schema.PageDocument) -> list[Problem]:
    """The ids a valid document names, checked against the brand's rows; hot-zone links against its mall."""
    known = _known(enterprise_id, page)
    problems: list[Problem] = []
    for n, c in enumerate(page.components):
        problems += _component_problems(f"components[{n}]", c, known)
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
