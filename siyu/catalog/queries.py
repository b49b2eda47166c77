"""Read paths over the catalog. The catalog is enterprise-wide: every staff role reads all of its enterprise's
products (stores sell what HQ lists); only HQ edits (see services.require_editor). The storefront reads through the
`on_sale_*` functions with the enterprise id of the mall it serves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Exists, Min, OuterRef, Prefetch, Q, QuerySet, Sum
from django.utils.translation import gettext_lazy as _

from siyu.catalog.models import Bundle, BundleItem, Category, Product, ProductRole, ProductStatus, ProductStore, Sku
from siyu.core.errors import NotFound
from siyu.core.money import Money
from siyu.core.pagination import Page, paginate
from siyu.org.scope import Scope


def status_choices() -> list[tuple[str, str]]:
    return [(value, str(label)) for value, label in ProductStatus.choices]


def role_choices() -> list[tuple[str, str]]:
    return [(value, str(label)) for value, label in ProductRole.choices]


def can_edit(scope: Scope) -> bool:
    return scope.is_hq


# ---------------------------------------------------------------------------------------------------------------
# Categories


def categories(scope: Scope) -> QuerySet[Category]:
    return Category.objects.filter(enterprise_id=scope.enterprise_id)


@dataclass
class CategoryNode:
    category: Category
    product_count: int = 0
    children: list[CategoryNode] = field(default_factory=list)

    @property
    def is_leaf(self) -> bool:
        return not self.children


def category_tree(scope: Scope) -> list[CategoryNode]:
    """Top categories with their children, each with how many products it (or its children) holds."""
    rows = list(categories(scope).annotate(n=Count("products")).order_by("sort", "id"))
    nodes = {c.pk: CategoryNode(category=c, product_count=getattr(c, "n", 0)) for c in rows}
    roots = []
    for category in rows:
        node = nodes[category.pk]
        if category.parent_id is None:
            roots.append(node)
        elif category.parent_id in nodes:
            nodes[category.parent_id].children.append(node)
    for root in roots:
        root.product_count += sum(child.product_count for child in root.children)
    return roots


def leaf_choices(scope: Scope) -> list[tuple[int, str]]:
    """Categories a product can go into, labelled "parent / child"."""
    out = []
    for root in category_tree(scope):
        if root.is_leaf:
            out.append((root.category.pk, root.category.name))
        for child in root.children:
            out.append((child.category.pk, f"{root.category.name} / {child.category.name}"))
    return out


def get_category(scope: Scope, category_id: int) -> Category:
    found = categories(scope).filter(id=category_id).first()
    if found is None:
        raise NotFound(_("category %(category_id)s not found") % {"category_id": category_id}, field="category_id")
    return found


# ---------------------------------------------------------------------------------------------------------------
# Products


def products(scope: Scope) -> QuerySet[Product]:
    return Product.objects.filter(enterprise_id=scope.enterprise_id)


@dataclass(frozen=True)
class ProductFilter:
    q: str = ""
    category_id: int | None = None
    role: str = ""
    status: str = ""
    store_id: int | None = None


def _filtered(qs: QuerySet[Product], flt: ProductFilter) -> QuerySet[Product]:
    text = flt.q.strip()
    if text:
        qs = qs.filter(Q(name__icontains=text) | Exists(Sku.objects.filter(product_id=OuterRef("pk"), code=text)))
    if flt.category_id:
        qs = qs.filter(Q(category_id=flt.category_id) | Q(category__parent_id=flt.category_id))
    if flt.role:
        qs = qs.filter(role=flt.role)
    if flt.status:
        qs = qs.filter(status=flt.status)
    if flt.store_id:
        linked = ProductStore.objects.filter(product_id=OuterRef("pk"), store_id=flt.store_id)
        qs = qs.filter(Q(all_stores=True) | Exists(linked))
    return qs


def _with_sku_figures(qs: QuerySet[Product]) -> QuerySet[Product]:
    active = Q(skus__is_active=True)
    return qs.select_related("category", "category__parent").annotate(
        min_price_fen=Min("skus__price_fen", filter=active),
        total_stock=Sum("skus__stock", filter=active),
        sku_count=Count("skus", filter=active),
    )


def search_products(scope: Scope, flt: ProductFilter, *, page: int = 1, page_size: int = 20) -> Page[Product]:
    """Products with `min_price_fen`, `total_stock` and `sku_count` annotated (over active SKUs)."""
    qs = _with_sku_figures(_filtered(products(scope), flt))
    return paginate(qs.order_by("sort", "id"), page=page, page_size=page_size)


def _detail(qs: QuerySet[Product], product_id: int) -> Product:
    found = (
        qs.filter(id=product_id)
        .select_related("category", "category__parent")
        .prefetch_related(Prefetch("skus", queryset=Sku.objects.order_by("sort", "id")), "store_links")
        .first()
    )
    if found is None:
        raise NotFound(_("product %(product_id)s not found") % {"product_id": product_id}, field="product_id")
    return found


def get_product(scope: Scope, product_id: int) -> Product:
    """A product with its SKUs (active and inactive, in editor order) and store links prefetched."""
    return _detail(products(scope), product_id)


def skus(scope: Scope) -> QuerySet[Sku]:
    return Sku.objects.filter(enterprise_id=scope.enterprise_id)


def get_sku(scope: Scope, sku_id: int) -> Sku:
    found = skus(scope).select_related("product").filter(id=sku_id).first()
    if found is None:
        raise NotFound(_("unknown SKU %(sku_id)s") % {"sku_id": sku_id}, field="sku_id", code="unknown_sku")
    return found


def product_names(scope: Scope, ids: set[Any]) -> dict[Any, str]:
    """id -> name of the products among `ids` the scope may see (one query for a page of timeline entries)."""
    return dict(products(scope).filter(pk__in=[i for i in ids if isinstance(i, int)]).values_list("id", "name"))


def sku_price(sku: Sku) -> Money:
    return Money(sku.price_fen, sku.product.currency)


def sku_member_price(sku: Sku) -> Money | None:
    return Money(sku.member_price_fen, sku.product.currency) if sku.member_price_fen is not None else None


def store_ids_of(product: Product) -> list[int]:
    return [link.store_id for link in product.store_links.all()]


def sold_in_store(product: Product, store_id: int) -> bool:
    return product.all_stores or store_id in store_ids_of(product)


# ---------------------------------------------------------------------------------------------------------------
# Bundles


def bundles(scope: Scope) -> QuerySet[Bundle]:
    return Bundle.objects.filter(enterprise_id=scope.enterprise_id).prefetch_related(
        Prefetch("items", queryset=BundleItem.objects.select_related("sku", "sku__product").order_by("id"))
    )


def get_bundle(scope: Scope, bundle_id: int) -> Bundle:
    found = bundles(scope).filter(id=bundle_id).first()
    if found is None:
        raise NotFound(_("bundle %(bundle_id)s not found") % {"bundle_id": bundle_id}, field="bundle_id")
    return found


def bundle_availability(bundle: Bundle) -> int:
    """How many bundles can be sold now: the min over components of stock // quantity (0 if one is inactive)."""
    counts = [
        item.sku.stock // item.quantity if item.sku.is_active else 0 for item in bundle.items.all()
    ]
    return min(counts) if counts else 0


def bundle_list_price(bundle: Bundle) -> Money:
    return Money(sum(item.sku.price_fen * item.quantity for item in bundle.items.all()), bundle.currency)


def bundle_price(bundle: Bundle) -> Money:
    return Money(bundle.price_fen, bundle.currency)


# ---------------------------------------------------------------------------------------------------------------
# Storefront


def on_sale_products(
    *, enterprise_id: int, category_id: int | None = None, store_id: int | None = None, q: str = ""
) -> QuerySet[Product]:
    """What a customer may browse: on-sale products (with an active SKU), optionally in a category (a top category
    includes its children) and sold in a store. Annotated like search_products."""
    flt = ProductFilter(q=q, category_id=category_id, status=ProductStatus.ON_SALE, store_id=store_id)
    qs = _filtered(Product.objects.filter(enterprise_id=enterprise_id), flt)
    qs = qs.filter(Exists(Sku.objects.filter(product_id=OuterRef("pk"), is_active=True)))
    return _with_sku_figures(qs).order_by("sort", "id")


def on_sale_product(*, enterprise_id: int, product_id: int) -> Product:
    """One on-sale product for its detail page, SKUs prefetched (filter `is_active` when showing them)."""
    qs = Product.objects.filter(enterprise_id=enterprise_id, status=ProductStatus.ON_SALE)
    return _detail(qs, product_id)


def on_sale_bundles(*, enterprise_id: int) -> QuerySet[Bundle]:
    return bundles(Scope.hq(enterprise_id, label="storefront")).filter(status=ProductStatus.ON_SALE)


def storefront_categories(*, enterprise_id: int) -> list[CategoryNode]:
    return category_tree(Scope.hq(enterprise_id, label="storefront"))
