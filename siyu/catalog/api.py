"""Catalog API (/api/catalog): categories, products with their SKUs, SKU prices and stock, bundles.

Amounts are integer fen with the currency beside them. Reads are open to every staff role of the enterprise;
writes need HQ (403 otherwise). Bad input comes back as 4xx with a code and the failing field; nothing is written.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from siyu.api.auth import actor_of, scope_of
from siyu.catalog import queries, services
from siyu.core.money import CURRENCY_PATTERN, Money

router = Router()


# ---------------------------------------------------------------------------------------------------------------
# Schemas


class Input(Schema):
    """Inputs forbid unknown fields: a misspelt field is a 422 naming it, not a silent no-op."""

    model_config = ConfigDict(extra="forbid")


class CategoryIn(Input):
    name: str = Field(max_length=200)
    parent_id: int | None = None
    sort: int = 0


class CategoryPatch(Input):
    name: str = Field(max_length=200)
    sort: int | None = None


class CategoryOut(Schema):
    id: int
    name: str
    parent_id: int | None
    sort: int
    product_count: int = 0
    children: list[CategoryOut] = []


class SkuIn(Input):
    id: int | None = None
    code: str = Field(max_length=64)
    specs: dict[str, str] = {}
    price_fen: int
    member_price_fen: int | None = None
    stock: int = 0
    stock_seen: int | None = Field(default=None, description="for an existing SKU: the stock you saw; `stock` is "
                                   "then applied as a delta from it (never overwrites concurrent sales)")
    is_active: bool = True


class ProductIn(Input):
    name: str = Field(max_length=500)
    category_id: int
    role: str = "profit"
    status: str = "draft"
    subtitle: str = ""
    selling_points: str = ""
    images: list[str] = []
    all_stores: bool = True
    store_ids: list[int] = []
    sort: int = 0
    currency: str = Field(default=settings.SIYU_CURRENCY, pattern=CURRENCY_PATTERN)
    skus: list[SkuIn]


class SkuOut(Schema):
    id: int
    product_id: int
    code: str
    specs: dict[str, str]
    price_fen: int
    member_price_fen: int | None
    currency: str
    stock: int
    is_active: bool


class ProductSummary(Schema):
    id: int
    name: str
    category_id: int
    category: str
    role: str
    status: str
    min_price_fen: int | None
    total_stock: int
    sku_count: int
    currency: str
    cover: str | None


class ProductOut(Schema):
    id: int
    name: str
    category_id: int
    role: str
    status: str
    subtitle: str
    selling_points: str
    images: list[str]
    all_stores: bool
    store_ids: list[int]
    currency: str
    sort: int
    skus: list[SkuOut]


class ProductPage(Schema):
    items: list[ProductSummary]
    total: int
    page: int
    page_size: int


class StatusIn(Input):
    product_ids: list[int]
    status: str


class Changed(Schema):
    changed: int


class SkuPatch(Input):
    price_fen: int | None = None
    member_price_fen: int | None = None
    clear_member_price: bool = False
    code: str | None = Field(default=None, max_length=64)
    is_active: bool | None = None


class StockIn(Input):
    delta: int
    reason: str = Field(default="", max_length=100)


class StockOut(Schema):
    sku_id: int
    stock: int


class BundleItemIn(Input):
    sku_id: int
    quantity: int = 1


class BundleIn(Input):
    name: str = Field(max_length=500)
    price_fen: int
    currency: str = Field(default=settings.SIYU_CURRENCY, pattern=CURRENCY_PATTERN)
    status: str = "draft"
    description: str = ""
    images: list[str] = []
    items: list[BundleItemIn]


class BundleItemOut(Schema):
    sku_id: int
    code: str
    name: str
    quantity: int
    price_fen: int


class BundleOut(Schema):
    id: int
    name: str
    status: str
    description: str
    images: list[str]
    price_fen: int
    list_price_fen: int
    currency: str
    available: int
    items: list[BundleItemOut]


# ---------------------------------------------------------------------------------------------------------------
# Converters


def _node(node: queries.CategoryNode) -> dict[str, Any]:
    c = node.category
    return {"id": c.pk, "name": c.name, "parent_id": c.parent_id, "sort": c.sort,
            "product_count": node.product_count, "children": [_node(child) for child in node.children]}


def _sku_out(sku: Any, currency: str) -> dict[str, Any]:
    return {"id": sku.pk, "product_id": sku.product_id, "code": sku.code, "specs": sku.specs,
            "price_fen": sku.price_fen, "member_price_fen": sku.member_price_fen, "currency": currency,
            "stock": sku.stock, "is_active": sku.is_active}


def _product_out(product: Any) -> dict[str, Any]:
    return {
        "id": product.pk, "name": product.name, "category_id": product.category_id, "role": product.role,
        "status": product.status, "subtitle": product.subtitle, "selling_points": product.selling_points,
        "images": product.images, "all_stores": product.all_stores, "store_ids": queries.store_ids_of(product),
        "currency": product.currency, "sort": product.sort,
        "skus": [_sku_out(sku, product.currency) for sku in product.skus.all()],
    }


def _summary(product: Any) -> dict[str, Any]:
    category = product.category
    label = f"{category.parent.name} / {category.name}" if category.parent_id else category.name
    return {
        "id": product.pk, "name": product.name, "category_id": product.category_id, "category": label,
        "role": product.role, "status": product.status, "min_price_fen": product.min_price_fen,
        "total_stock": product.total_stock or 0, "sku_count": product.sku_count, "currency": product.currency,
        "cover": product.images[0] if product.images else None,
    }


def _product_input(payload: ProductIn) -> services.ProductInput:
    cur = payload.currency
    skus = [
        services.SkuInput(
            id=row.id, code=row.code, specs=row.specs, price=Money(row.price_fen, cur),
            member_price=Money(row.member_price_fen, cur) if row.member_price_fen is not None else None,
            stock=row.stock, stock_seen=row.stock_seen, is_active=row.is_active,
        )
        for row in payload.skus
    ]
    return services.ProductInput(
        name=payload.name, category_id=payload.category_id, skus=skus, role=payload.role, status=payload.status,
        subtitle=payload.subtitle, selling_points=payload.selling_points, images=payload.images,
        all_stores=payload.all_stores, store_ids=payload.store_ids, sort=payload.sort, currency=cur,
    )


def _bundle_out(bundle: Any) -> dict[str, Any]:
    items = [
        {"sku_id": i.sku_id, "code": i.sku.code, "name": i.sku.product.name, "quantity": i.quantity,
         "price_fen": i.sku.price_fen}
        for i in bundle.items.all()
    ]
    return {
        "id": bundle.pk, "name": bundle.name, "status": bundle.status, "description": bundle.description,
        "images": bundle.images, "price_fen": bundle.price_fen,
        "list_price_fen": queries.bundle_list_price(bundle).fen, "currency": bundle.currency,
        "available": queries.bundle_availability(bundle), "items": items,
    }


def _bundle_input(payload: BundleIn) -> services.BundleInput:
    return services.BundleInput(
        name=payload.name, price=Money(payload.price_fen, payload.currency), status=payload.status,
        description=payload.description, images=payload.images,
        items=[services.BundleItemInput(sku_id=i.sku_id, quantity=i.quantity) for i in payload.items],
    )


# ---------------------------------------------------------------------------------------------------------------
# Categories


@router.get("/categories", response=list[CategoryOut], summary="The category tree")
def list_categories(request: HttpRequest) -> list[dict[str, Any]]:
    return [_node(node) for node in queries.category_tree(scope_of(request))]


@router.post("/categories", response={201: CategoryOut}, summary="Create a category (a child with parent_id)")
def create_category(request: HttpRequest, payload: CategoryIn) -> Status[dict[str, Any]]:
    category = services.create_category(scope=scope_of(request), name=payload.name, parent_id=payload.parent_id,
                                        sort=payload.sort, actor=actor_of(request))
    body = {"id": category.pk, "name": category.name, "parent_id": category.parent_id, "sort": category.sort}
    return Status(201, body)


@router.patch("/categories/{category_id}", response=CategoryOut, summary="Rename or re-sort a category")
def update_category(request: HttpRequest, category_id: int, payload: CategoryPatch) -> dict[str, Any]:
    category = services.update_category(scope=scope_of(request), category_id=category_id, name=payload.name,
                                        sort=payload.sort, actor=actor_of(request))
    return {"id": category.pk, "name": category.name, "parent_id": category.parent_id, "sort": category.sort}


@router.delete("/categories/{category_id}", response={204: None}, summary="Delete an empty category")
def delete_category(request: HttpRequest, category_id: int) -> Status[None]:
    services.delete_category(scope=scope_of(request), category_id=category_id, actor=actor_of(request))
    return Status(204, None)


# ---------------------------------------------------------------------------------------------------------------
# Products and SKUs


class ProductQuery(Input):
    q: str = ""
    category_id: int | None = None
    role: str = ""
    status: str = ""
    store_id: int | None = None
    page: int = Field(1, ge=1)
    page_size: int = Field(20, ge=1, le=200)


@router.get("/products", response=ProductPage, summary="Search products")
def list_products(request: HttpRequest, params: Query[ProductQuery]) -> dict[str, Any]:
    flt = queries.ProductFilter(q=params.q, category_id=params.category_id, role=params.role, status=params.status,
                                store_id=params.store_id)
    page = queries.search_products(scope_of(request), flt, page=params.page, page_size=params.page_size)
    return {"items": [_summary(p) for p in page.items], "total": page.total, "page": page.page,
            "page_size": page.page_size}


@router.post("/products", response={201: ProductOut}, summary="Create a product with its SKUs")
def create_product(request: HttpRequest, payload: ProductIn) -> Status[dict[str, Any]]:
    scope = scope_of(request)
    product = services.create_product(scope=scope, data=_product_input(payload), actor=actor_of(request))
    return Status(201, _product_out(queries.get_product(scope, product.pk)))


# Declared before /products/{product_id}, which would otherwise take "status" for an id.
@router.post("/products/status", response=Changed, summary="Put products on or off sale")
def set_status(request: HttpRequest, payload: StatusIn) -> dict[str, int]:
    changed = services.set_product_status(scope=scope_of(request), product_ids=payload.product_ids,
                                          status=payload.status, actor=actor_of(request))
    return {"changed": changed}


@router.get("/products/{product_id}", response=ProductOut, summary="A product with its SKUs")
def get_product(request: HttpRequest, product_id: int) -> dict[str, Any]:
    return _product_out(queries.get_product(scope_of(request), product_id))


@router.put("/products/{product_id}", response=ProductOut,
            summary="Replace a product and its SKU rows (left-out SKUs are deactivated)")
def update_product(request: HttpRequest, product_id: int, payload: ProductIn) -> dict[str, Any]:
    scope = scope_of(request)
    services.update_product(scope=scope, product_id=product_id, data=_product_input(payload), actor=actor_of(request))
    return _product_out(queries.get_product(scope, product_id))


@router.post("/products/{product_id}/skus", response={201: SkuOut}, summary="Add a SKU to a product")
def add_sku(request: HttpRequest, product_id: int, payload: SkuIn) -> Status[dict[str, Any]]:
    scope = scope_of(request)
    currency = queries.get_product(scope, product_id).currency
    sku = services.add_sku(
        scope=scope, product_id=product_id, actor=actor_of(request),
        sku=services.SkuInput(
            code=payload.code, specs=payload.specs, price=Money(payload.price_fen, currency),
            member_price=Money(payload.member_price_fen, currency) if payload.member_price_fen is not None else None,
            stock=payload.stock, is_active=payload.is_active,
        ),
    )
    return Status(201, _sku_out(sku, currency))


@router.get("/skus/{sku_id}", response=SkuOut, summary="One SKU")
def get_sku(request: HttpRequest, sku_id: int) -> dict[str, Any]:
    sku = queries.get_sku(scope_of(request), sku_id)
    return _sku_out(sku, sku.product.currency)


@router.patch("/skus/{sku_id}", response=SkuOut, summary="Change a SKU's prices, code or active flag")
def update_sku(request: HttpRequest, sku_id: int, payload: SkuPatch) -> dict[str, Any]:
    scope = scope_of(request)
    currency = queries.get_sku(scope, sku_id).product.currency
    sku = services.update_sku(
        scope=scope, sku_id=sku_id, actor=actor_of(request), code=payload.code, is_active=payload.is_active,
        price=Money(payload.price_fen, currency) if payload.price_fen is not None else None,
        member_price=Money(payload.member_price_fen, currency) if payload.member_price_fen is not None else None,
        clear_member_price=payload.clear_member_price,
    )
    return _sku_out(sku, currency)


@router.post("/skus/{sku_id}/stock", response=StockOut, summary="Add or remove stock by hand (a delta)")
def adjust_stock(request: HttpRequest, sku_id: int, payload: StockIn) -> dict[str, int]:
    stock = services.adjust_stock(scope=scope_of(request), sku_id=sku_id, delta=payload.delta, reason=payload.reason,
                                  actor=actor_of(request))
    return {"sku_id": sku_id, "stock": stock}


# ---------------------------------------------------------------------------------------------------------------
# Bundles


@router.get("/bundles", response=list[BundleOut], summary="Bundles with their availability")
def list_bundles(request: HttpRequest) -> list[dict[str, Any]]:
    return [_bundle_out(b) for b in queries.bundles(scope_of(request)).order_by("id")]


@router.post("/bundles", response={201: BundleOut}, summary="Create a bundle")
def create_bundle(request: HttpRequest, payload: BundleIn) -> Status[dict[str, Any]]:
    scope = scope_of(request)
    bundle = services.create_bundle(scope=scope, data=_bundle_input(payload), actor=actor_of(request))
    return Status(201, _bundle_out(queries.get_bundle(scope, bundle.pk)))


@router.get("/bundles/{bundle_id}", response=BundleOut, summary="One bundle")
def get_bundle(request: HttpRequest, bundle_id: int) -> dict[str, Any]:
    return _bundle_out(queries.get_bundle(scope_of(request), bundle_id))


@router.put("/bundles/{bundle_id}", response=BundleOut, summary="Replace a bundle and its items")
def update_bundle(request: HttpRequest, bundle_id: int, payload: BundleIn) -> dict[str, Any]:
    scope = scope_of(request)
    services.update_bundle(scope=scope, bundle_id=bundle_id, data=_bundle_input(payload), actor=actor_of(request))
    return _bundle_out(queries.get_bundle(scope, bundle_id))
