"""Every change to the catalog goes through these functions: categories, products with SKUs, bundles and stock.

Editing the catalog is an HQ job (`scope.is_hq`); stock moves (`reserve_stock`/`release_stock`) are called by the
orders service on the customer's behalf and take the enterprise id instead of a staff scope.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from random import Random
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_

from siyu.catalog import demo_data
from siyu.catalog.models import (
    Bundle,
    BundleItem,
    Category,
    Product,
    ProductRole,
    ProductStatus,
    ProductStore,
    Sku,
)
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.core.money import Money
from siyu.org.models import Store
from siyu.org.scope import Scope

MAX_IMAGES = 20
MAX_SKUS = 200
MAX_QUANTITY = 9999
MAX_SPEC_TEXT = 32
_SKU_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_IMAGE = re.compile(r"^(https?://|/)\S{1,490}$")


def require_editor(scope: Scope) -> None:
    """Only HQ edits the catalog and the promotions; stores sell what HQ lists."""
    if not scope.is_hq:
        raise PermissionDenied(_("only HQ admins can change the catalog"), code="forbidden")


# ---------------------------------------------------------------------------------------------------------------
# Categories


def _clean_category_name(name: str) -> str:
    clean = (name or "").strip()
    if not clean:
        raise ValidationFailed(_("name is required"), field="name", code="required")
    if len(clean) > 64:
        raise ValidationFailed(_("name is at most 64 characters"), field="name", code="too_long")
    return clean


def _category_parent(enterprise_id: int, parent_id: int | None) -> Category | None:
    if parent_id is None:
        return None
    parent = Category.objects.filter(id=parent_id, enterprise_id=enterprise_id).first()
    if parent is None:
        raise NotFound(_("category %(parent_id)s not found") % {"parent_id": parent_id}, field="parent_id")
    if parent.parent_id is not None:
        raise ValidationFailed(_("categories have two levels: a child cannot have children"), field="parent_id",
                               code="too_deep")
    if parent.products.exists():
        raise Conflict(_("this category holds products; move them to a child category first"), field="parent_id",
                       code="category_has_products")
    return parent


@transaction.atomic
def create_category(
    *, scope: Scope, name: str, parent_id: int | None = None, sort: int = 0, actor: Actor = None
) -> Category:
    require_editor(scope)
    clean = _clean_category_name(name)
    parent = _category_parent(scope.enterprise_id, parent_id)
    if Category.objects.filter(enterprise_id=scope.enterprise_id, parent=parent, name=clean).exists():
        raise Conflict(
            _("category %(clean)s already exists here") % {"clean": repr(clean)},
            field="name", code="duplicate",
        )
    category = Category.objects.create(enterprise_id=scope.enterprise_id, parent=parent, name=clean, sort=sort)
    audit.record(enterprise_id=scope.enterprise_id,
                 actor=actor, action="category.create", target_type="category", target_id=category.pk, summary=clean)
    return category


def _get_category(scope: Scope, category_id: int) -> Category:
    category = Category.objects.filter(id=category_id, enterprise_id=scope.enterprise_id).first()
    if category is None:
        raise NotFound(_("category %(category_id)s not found") % {"category_id": category_id}, field="category_id")
    return category


@transaction.atomic
def update_category(
    *, scope: Scope, category_id: int, name: str, sort: int | None = None, actor: Actor = None
) -> Category:
    require_editor(scope)
    category = _get_category(scope, category_id)
    clean = _clean_category_name(name)
    clash = Category.objects.filter(enterprise_id=scope.enterprise_id, parent_id=category.parent_id, name=clean)
    if clash.exclude(pk=category.pk).exists():
        raise Conflict(
            _("category %(clean)s already exists here") % {"clean": repr(clean)},
            field="name", code="duplicate",
        )
    before = category.name
    category.name = clean
    if sort is not None:
        category.sort = sort
    category.save()
    audit.record(enterprise_id=scope.enterprise_id,
                 actor=actor, action="category.update", target_type="category", target_id=category.pk,
                 changes={"name": [before, clean]})
    return category


@transaction.atomic
def delete_category(*, scope: Scope, category_id: int, actor: Actor = None) -> None:
    require_editor(scope)
    category = _get_category(scope, category_id)
    if category.children.exists() or category.products.exists():
        raise Conflict(_("only an empty category can be deleted"), field="category_id", code="category_not_empty")
    category.delete()
    audit.record(enterprise_id=scope.enterprise_id,
                 actor=actor, action="category.delete", target_type="category", target_id=category_id)


# ---------------------------------------------------------------------------------------------------------------
# Products and SKUs


@dataclass(frozen=True)
class SkuInput:
    """One SKU row. For an existing SKU (`id`), `stock` is applied as a delta from `stock_seen` (the value the
    editor showed), so a concurrent checkout's decrement is never overwritten; without `stock_seen` it is left."""

    code: str
    price: Money
    specs: Mapping[str, str] = field(default_factory=dict)
    member_price: Money | None = None
    stock: int = 0
    stock_seen: int | None = None
    id: int | None = None
    is_active: bool = True


@dataclass(frozen=True)
class ProductInput:
    name: str
    category_id: int
    skus: Sequence[SkuInput]
    role: str = ProductRole.PROFIT
    status: str = ProductStatus.DRAFT
    subtitle: str = ""
    selling_points: str = ""
    images: Sequence[str] = ()
    all_stores: bool = True
    store_ids: Sequence[int] = ()
    sort: int = 0
    currency: str = settings.SIYU_CURRENCY


@dataclass(frozen=True)
class _CleanSku:
    index: int
    id: int | None
    code: str
    specs: dict[str, str]
    spec_key: str
    price_fen: int
    member_price_fen: int | None
    stock: int
    stock_seen: int | None
    is_active: bool


def spec_key(specs: Mapping[str, str]) -> str:
    """The canonical text of a spec combination: sorted by dimension, so {"尺码": "M", "颜色": "红"} equals its
    reordering."""
    return json.dumps(sorted(specs.items()), ensure_ascii=False, separators=(",", ":"))


def _clean_specs(raw: Mapping[str, str], index: int) -> dict[str, str]:
    clean: dict[str, str] = {}
    for key, value in raw.items():
        k, v = str(key).strip(), str(value).strip()
        if not k or not v or len(k) > MAX_SPEC_TEXT or len(v) > MAX_SPEC_TEXT:
            raise ValidationFailed(
                _("spec names and values are 1-%(MAX_SPEC_TEXT)s characters") % {"MAX_SPEC_TEXT": MAX_SPEC_TEXT},
                field=f"skus[{index}].specs", index=index,
                code="spec_length",
            )
        clean[k] = v
    return clean


def _clean_prices(sku: SkuInput, index: int, currency: str) -> tuple[int, int | None]:
    prices = [("price", sku.price)] + ([("member_price", sku.member_price)] if sku.member_price is not None else [])
    for name, money in prices:
        if money.currency != currency:
            raise ValidationFailed(
                _("%(name)s must be in %(currency)s") % {"name": name, "currency": currency},
                field=f"skus[{index}].{name}", index=index, code="currency_mismatch",
            )
        if money.fen < 0:
            raise ValidationFailed(
                _("%(name)s cannot be negative") % {"name": name},
                field=f"skus[{index}].{name}", index=index, code="negative_price",
            )
    member = sku.member_price.fen if sku.member_price is not None else None
    if member is not None and member > sku.price.fen:
        raise ValidationFailed(_("the member price cannot be above the price"), field=f"skus[{index}].member_price",
                               index=index, code="member_price_too_high")
    return sku.price.fen, member


def _clean_sku(sku: SkuInput, index: int, currency: str) -> _CleanSku:
    code = (sku.code or "").strip()
    if not _SKU_CODE.match(code):
        raise ValidationFailed(_("SKU code: 1-64 letters, digits, '-', '_' or '.'"), field=f"skus[{index}].code",
                               index=index, code="invalid_code")
    price, member = _clean_prices(sku, index, currency)
    if not isinstance(sku.stock, int) or not 0 <= sku.stock <= 10_000_000:
        raise ValidationFailed(_("stock must be a whole number from 0"), field=f"skus[{index}].stock", index=index,
                               code="invalid_stock")
    specs = _clean_specs(sku.specs, index)
    return _CleanSku(index=index, id=sku.id, code=code, specs=specs, spec_key=spec_key(specs), price_fen=price,
                     member_price_fen=member, stock=sku.stock, stock_seen=sku.stock_seen, is_active=sku.is_active)


def _check_sku_set(rows: list[_CleanSku]) -> None:
    dims: frozenset[str] | None = None
    seen_keys: dict[str, int] = {}
    seen_codes: dict[str, int] = {}
    for row in rows:
        row_dims = frozenset(row.specs)
        if dims is None and row.is_active:
            dims = row_dims
        elif row.is_active and row_dims != dims:
            raise ValidationFailed(_("every SKU needs the same spec names"), field=f"skus[{row.index}].specs",
                                   index=row.index, code="inconsistent_specs")
        if row.spec_key in seen_keys:
            raise ValidationFailed(_("two SKUs have the same spec combination"), field=f"skus[{row.index}].specs",
                                   index=row.index, code="duplicate_specs")
        if row.code in seen_codes:
            raise ValidationFailed(_("two SKUs have the same code"), field=f"skus[{row.index}].code", index=row.index,
                                   code="duplicate_code")
        seen_keys[row.spec_key] = row.index
        seen_codes[row.code] = row.index


def _clean_skus(data: ProductInput) -> list[_CleanSku]:
    if not data.skus:
        raise ValidationFailed(_("a product needs at least one SKU"), field="skus", code="required")
    if len(data.skus) > MAX_SKUS:
        raise ValidationFailed(_("at most %(MAX_SKUS)s SKUs") % {"MAX_SKUS": MAX_SKUS}, field="skus",
                               code="too_many_skus")
    rows = [_clean_sku(sku, index, data.currency) for index, sku in enumerate(data.skus)]
    _check_sku_set(rows)
    return rows


def _clean_images(images: Sequence[str]) -> list[str]:
    if len(images) > MAX_IMAGES:
        raise ValidationFailed(_("at most %(MAX_IMAGES)s images") % {"MAX_IMAGES": MAX_IMAGES}, field="images",
                               code="too_many_images")
    clean = []
    for index, raw in enumerate(images):
        url = (raw or "").strip()
        if not _IMAGE.match(url):
            raise ValidationFailed(_("an image is an http(s) URL or a path starting with /"), field=f"images[{index}]",
                                   index=index, code="invalid_image")
        clean.append(url)
    return clean


def _clean_leaf(enterprise_id: int, category_id: int) -> Category:
    category = Category.objects.filter(id=category_id, enterprise_id=enterprise_id).first()
    if category is None:
        raise NotFound(_("category %(category_id)s not found") % {"category_id": category_id}, field="category_id")
    if category.children.exists():
        raise ValidationFailed(_("products go into a leaf category (one without children)"), field="category_id",
                               code="category_not_leaf")
    return category


def _clean_stores(enterprise_id: int, all_stores: bool, store_ids: Sequence[int]) -> list[int]:
    if all_stores:
        return []
    if not store_ids:
        raise ValidationFailed(_("choose at least one store, or sell in all stores"), field="store_ids",
                               code="required")
    wanted = list(dict.fromkeys(store_ids))
    known = set(Store.objects.filter(enterprise_id=enterprise_id, id__in=wanted).values_list("id", flat=True))
    for index, store_id in enumerate(store_ids):
        if store_id not in known:
            raise NotFound(
                _("store %(store_id)s not found") % {"store_id": store_id},
                field=f"store_ids[{index}]", index=index,
            )
    return wanted


def _clean_product_fields(enterprise_id: int, data: ProductInput) -> dict[str, Any]:
    name = (data.name or "").strip()
    if not name:
        raise ValidationFailed(_("name is required"), field="name", code="required")
    if len(name) > 120:
        raise ValidationFailed(_("name is at most 120 characters"), field="name", code="too_long")
    if data.role not in ProductRole.values:
        raise ValidationFailed(
            _("role must be one of %(join)s") % {"join": ', '.join(ProductRole.values)},
            field="role",
            code="unknown_role",
        )
    if data.status not in ProductStatus.values:
        raise ValidationFailed(
            _("status must be one of %(join)s") % {"join": ', '.join(ProductStatus.values)},
            field="status",
            code="unknown_status",
        )
    if len(data.subtitle) > 200:
        raise ValidationFailed(_("subtitle is at most 200 characters"), field="subtitle", code="too_long")
    if len(data.selling_points) > 5000:
        raise ValidationFailed(_("selling points are at most 5000 characters"), field="selling_points",
                               code="too_long")
    category = _clean_leaf(enterprise_id, data.category_id)
    return {
        "name": name,
        "category": category,
        "role": data.role,
        "status": data.status,
        "subtitle": data.subtitle.strip(),
        "selling_points": data.selling_points.strip(),
        "images": _clean_images(data.images),
        "all_stores": data.all_stores,
        "sort": data.sort,
        "currency": data.currency,
    }


def _check_codes_free(enterprise_id: int, rows: list[_CleanSku], product_id: int | None) -> None:
    taken = Sku.objects.filter(enterprise_id=enterprise_id, code__in=[r.code for r in rows])
    if product_id is not None:
        taken = taken.exclude(product_id=product_id)
    used = set(taken.values_list("code", flat=True))
    for row in rows:
        if row.code in used:
            raise Conflict(
                _("SKU code %(code)s is used by another product") % {"code": row.code},
                field=f"skus[{row.index}].code", index=row.index, code="duplicate_code",
            )


def _check_on_sale(status: str, rows: list[_CleanSku]) -> None:
    if status == ProductStatus.ON_SALE and not any(row.is_active for row in rows):
        raise ValidationFailed(_("a product on sale needs an active SKU"), field="status", code="no_active_sku")


def _sku_row(product: Product, row: _CleanSku) -> Sku:
    return Sku(
        enterprise_id=product.enterprise_id, product=product, code=row.code, specs=row.specs, spec_key=row.spec_key,
        price_fen=row.price_fen, member_price_fen=row.member_price_fen, stock=row.stock, is_active=row.is_active,
        sort=row.index,
    )


@transaction.atomic
def create_product(*, scope: Scope, data: ProductInput, actor: Actor = None) -> Product:
    require_editor(scope)
    fields = _clean_product_fields(scope.enterprise_id, data)
    rows = _clean_skus(data)
    stores = _clean_stores(scope.enterprise_id, data.all_stores, data.store_ids)
    _check_on_sale(data.status, rows)
    for row in rows:
        if row.id is not None:
            raise NotFound(
                _("SKU %(id)s does not belong to this product") % {"id": row.id},
                field=f"skus[{row.index}].id", index=row.index,
            )
    _check_codes_free(scope.enterprise_id, rows, None)
    product = Product.objects.create(enterprise_id=scope.enterprise_id, **fields)
    ProductStore.objects.bulk_create([ProductStore(product=product, store_id=s) for s in stores])
    Sku.objects.bulk_create([_sku_row(product, row) for row in rows])
    audit.record(enterprise_id=scope.enterprise_id,
                 actor=actor, action="product.create", target_type="product", target_id=product.pk,
                 summary=product.name, changes={"skus": len(rows)})
    return product


def _match_existing(product: Product, rows: list[_CleanSku]) -> tuple[list[_CleanSku], dict[int, Sku]]:
    """Give new rows the id of an existing SKU with the same specs or code (re-adding a removed SKU revives it)."""
    existing = {sku.pk: sku for sku in Sku.objects.select_for_update().filter(product=product).order_by("id")}
    claimed = {row.id for row in rows if row.id is not None}
    for row in rows:
        if row.id is not None and row.id not in existing:
            raise NotFound(
                _("SKU %(id)s does not belong to this product") % {"id": row.id},
                field=f"skus[{row.index}].id", index=row.index,
            )
    free = {sku.spec_key: sku.pk for sku in existing.values() if sku.pk not in claimed}
    free_codes = {sku.code: sku.pk for sku in existing.values() if sku.pk not in claimed}
    matched = []
    for row in rows:
        if row.id is None:
            revived = free.get(row.spec_key) or free_codes.get(row.code)
            if revived is not None and revived not in claimed:
                claimed.add(revived)  # one existing SKU revives at most one new row
                row = replace(row, id=revived, stock_seen=existing[revived].stock)
        matched.append(row)
    return matched, existing


def _apply_sku_rows(product: Product, rows: list[_CleanSku], existing: dict[int, Sku]) -> None:
    kept = set()
    for row in rows:
        if row.id is None:
            continue
        kept.add(row.id)
        Sku.objects.filter(pk=row.id).update(
            code=f"~{row.id}", spec_key=f"~{row.id}"  # free the unique values first, so two rows may swap them
        )
    for row in rows:
        if row.id is None:
            continue
        delta = row.stock - row.stock_seen if row.stock_seen is not None else 0
        updated = Sku.objects.filter(pk=row.id, stock__gte=-delta).update(
            code=row.code, specs=row.specs, spec_key=row.spec_key, price_fen=row.price_fen,
            member_price_fen=row.member_price_fen, is_active=row.is_active, sort=row.index,
            stock=F("stock") + delta,
        )
        if updated != 1:
            raise Conflict(_("stock would drop below zero (orders took some meanwhile); reload and retry"),
                           field=f"skus[{row.index}].stock", index=row.index, code="out_of_stock")
    Sku.objects.filter(product=product).exclude(pk__in=kept).filter(pk__in=list(existing)).update(is_active=False)
    Sku.objects.bulk_create([_sku_row(product, row) for row in rows if row.id is None])


@transaction.atomic
def update_product(*, scope: Scope, product_id: int, data: ProductInput, actor: Actor = None) -> Product:
    """Replace a product's fields, stores and SKU rows. SKUs left out are deactivated, never deleted (orders
    point at them)."""
    require_editor(scope)
    product = Product.objects.select_for_update().filter(id=product_id, enterprise_id=scope.enterprise_id).first()
    if product is None:
        raise NotFound(_("product %(product_id)s not found") % {"product_id": product_id}, field="product_id")
    fields = _clean_product_fields(scope.enterprise_id, data)
    if fields["currency"] != product.currency:
        raise ValidationFailed(_("a product's currency cannot change"), field="currency", code="currency_mismatch")
    rows = _clean_skus(data)
    stores = _clean_stores(scope.enterprise_id, data.all_stores, data.store_ids)
    _check_on_sale(data.status, rows)
    _check_codes_free(scope.enterprise_id, rows, product.pk)
    rows, existing = _match_existing(product, rows)
    before = {"name": product.name, "status": product.status}
    for key, value in fields.items():
        setattr(product, key, value)
    product.save()
    ProductStore.objects.filter(product=product).exclude(store_id__in=stores).delete()
    ProductStore.objects.bulk_create([ProductStore(product=product, store_id=s) for s in stores],
                                     ignore_conflicts=True)
    try:
        with transaction.atomic():
            _apply_sku_rows(product, rows, existing)
    except IntegrityError as exc:
        raise Conflict(_("SKU codes or spec combinations clash"), field="skus", code="duplicate_specs") from exc
    audit.record(enterprise_id=scope.enterprise_id,
                 actor=actor, action="product.update", target_type="product", target_id=product.pk,
                 summary=product.name, changes={"before": before, "skus": len(rows)})
    return product


def _current_input(product: Product) -> tuple[ProductInput, list[SkuInput]]:
    """A product's present state as editor input (to change one SKU through the same validation)."""
    rows = [
        SkuInput(id=sku.pk, code=sku.code, specs=sku.specs, price=Money(sku.price_fen, product.currency),
                 member_price=Money(sku.member_price_fen, product.currency) if sku.member_price_fen is not None
                 else None, stock=sku.stock, stock_seen=sku.stock, is_active=sku.is_active)
        for sku in Sku.objects.filter(product=product).order_by("sort", "id")
    ]
    data = ProductInput(
        name=product.name, category_id=product.category_id, skus=rows, role=product.role, status=product.status,
        subtitle=product.subtitle, selling_points=product.selling_points, images=product.images,
        all_stores=product.all_stores, store_ids=list(product.store_links.values_list("store_id", flat=True)),
        sort=product.sort, currency=product.currency,
    )
    return data, rows


@transaction.atomic
def add_sku(*, scope: Scope, product_id: int, sku: SkuInput, actor: Actor = None) -> Sku:
    """Add one SKU to a product (validated with its siblings: same spec names, no duplicate combination)."""
    require_editor(scope)
    product = Product.objects.filter(id=product_id, enterprise_id=scope.enterprise_id).first()
    if product is None:
        raise NotFound(_("product %(product_id)s not found") % {"product_id": product_id}, field="product_id")
    if sku.id is not None:
        raise ValidationFailed(_("a new SKU has no id"), field="id", code="id_not_allowed")
    data, rows = _current_input(product)
    update_product(scope=scope, product_id=product.pk, data=replace(data, skus=[*rows, sku]), actor=actor)
    return Sku.objects.get(product=product, code=sku.code.strip())


@transaction.atomic
def update_sku(
    *, scope: Scope, sku_id: int, price: Money | None = None, member_price: Money | None = None,
    clear_member_price: bool = False, code: str | None = None, is_active: bool | None = None, actor: Actor = None,
) -> Sku:
    """Change one SKU's price, member price, code or active flag (stock moves go through adjust_stock)."""
    require_editor(scope)
    current = Sku.objects.select_related("product").filter(id=sku_id, enterprise_id=scope.enterprise_id).first()
    if current is None:
        raise NotFound(_("unknown SKU %(sku_id)s") % {"sku_id": sku_id}, field="sku_id", code="unknown_sku")
    data, rows = _current_input(current.product)
    changed = []
    for row in rows:
        if row.id == sku_id:
            member = None if clear_member_price else (member_price or row.member_price)
            row = replace(row, price=price or row.price, member_price=member, code=code or row.code,
                          is_active=row.is_active if is_active is None else is_active)
        changed.append(row)
    try:
        update_product(scope=scope, product_id=current.product_id, data=replace(data, skus=changed), actor=actor)
    except ValidationFailed as exc:
        prefix = f"skus[{exc.index}]."
        if exc.field and exc.field.startswith(prefix):  # name the SKU's own field, not its row in the product
            raise ValidationFailed(exc.message, field=exc.field[len(prefix):], code=exc.code) from exc
        raise
    return Sku.objects.get(pk=sku_id)


@transaction.atomic
def set_product_status(*, scope: Scope, product_ids: Sequence[int], status: str, actor: Actor = None) -> int:
    """Put many products on or off sale at once. Returns how many changed."""
    require_editor(scope)
    if status not in ProductStatus.values:
        raise ValidationFailed(
            _("status must be one of %(join)s") % {"join": ', '.join(ProductStatus.values)},
            field="status",
            code="unknown_status",
        )
    if not product_ids:
        raise ValidationFailed(_("name at least one product"), field="product_ids", code="required")
    found = dict(
        Product.objects.filter(enterprise_id=scope.enterprise_id, id__in=product_ids)
        .annotate(active_skus=Count("skus", filter=Q(skus__is_active=True)))
        .values_list("id", "active_skus")
    )
    for index, product_id in enumerate(product_ids):
        if product_id not in found:
            raise NotFound(
                _("product %(product_id)s not found") % {"product_id": product_id},
                field=f"product_ids[{index}]", index=index,
            )
        if status == ProductStatus.ON_SALE and not found[product_id]:
            raise ValidationFailed(_("a product on sale needs an active SKU"), field=f"product_ids[{index}]",
                                   index=index, code="no_active_sku")
    changed = Product.objects.filter(id__in=list(found)).exclude(status=status).update(status=status)
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="product.status", target_type="product",
                 target_id=",".join(str(p) for p in list(found)[:20]),
                 summary=audit.ntext(
                     N_("%(count)s product → %(status)s"), N_("%(count)s products → %(status)s"),
                     changed, status=audit.label(ProductStatus(status).label)))
    return int(changed)


# ---------------------------------------------------------------------------------------------------------------
# Stock


@dataclass(frozen=True)
class StockItem:
    """`line` is the caller's line index, reported in errors (`lines[line].quantity`); defaults to the position."""

    sku_id: int
    quantity: int
    line: int | None = None


def _aggregate(items: Sequence[StockItem]) -> dict[int, tuple[int, int]]:
    """Sum quantities per SKU; remember the first line asking for it (for the error's index)."""
    if not items:
        raise ValidationFailed(_("no items"), field="lines", code="required")
    demand: dict[int, tuple[int, int]] = {}
    for position, item in enumerate(items):
        index = item.line if item.line is not None else position
        if not isinstance(item.quantity, int) or isinstance(item.quantity, bool) or not 1 <= item.quantity:
            raise ValidationFailed(_("quantity must be a positive whole number"), field=f"lines[{index}].quantity",
                                   index=index, code="invalid_quantity")
        total, first = demand.get(item.sku_id, (0, index))
        demand[item.sku_id] = (total + item.quantity, first)
    return demand


def reserve_stock(*, enterprise_id: int, items: Sequence[StockItem]) -> None:
    """Take stock for an order in ONE conditional UPDATE over all its SKUs (`stock = stock - n WHERE stock >= n`,
    see `_move_stock`). All or nothing: when a SKU is short, inactive or unknown, what this call took is put back
    (the rows are still locked by this transaction, so that is exact) and Conflict(out_of_stock) or
    NotFound(unknown_sku) names the first such SKU in id order. No savepoint: inside the caller's transaction (an
    order being placed) the error leaves that transaction usable, and the caller decides to roll back."""
    demand = _aggregate(items)
    if not transaction.get_connection().in_atomic_block:
        with transaction.atomic():
            _reserve(enterprise_id, demand)
        return
    _reserve(enterprise_id, demand)


def _reserve(enterprise_id: int, demand: dict[int, tuple[int, int]]) -> None:
    wanted = {sku_id: quantity for sku_id, (quantity, _index) in demand.items()}
    taken = _move_stock(enterprise_id, wanted, take=True)
    short = [sku_id for sku_id in sorted(demand) if sku_id not in taken]
    if short:
        if taken:
            _move_stock(enterprise_id, {sku_id: wanted[sku_id] for sku_id in taken}, take=False)
        _raise_unavailable(enterprise_id, short[0], *demand[short[0]])


def _move_stock(enterprise_id: int, change: Mapping[int, int], *, take: bool) -> set[int]:
    """Move the stock of several SKUs in one statement: `take` subtracts (only from active SKUs with enough left),
    else adds. Returns the ids of the SKUs changed. On PostgreSQL the rows are first locked in id order (an ordered
    `FOR UPDATE` sub-select), the lock order every stock writer keeps, so checkouts sharing SKUs cannot deadlock
    whatever plan the UPDATE gets; a row changed meanwhile is re-checked by PostgreSQL against its newest version."""
    connection = transaction.get_connection()
    if not connection.features.can_return_columns_from_insert:  # SQLite before 3.35: no RETURNING
        return _move_stock_per_row(enterprise_id, change, take=take)
    table = connection.ops.quote_name(Sku._meta.db_table)
    ids = sorted(change)
    values = ", ".join(["(CAST(%s AS bigint), CAST(%s AS bigint))"] * len(ids))
    lock = " FOR UPDATE OF x" if connection.vendor == "postgresql" else ""
    sign, enough = ("-", " AND s.is_active AND s.stock >= w.qty") if take else ("+", "")
    sql = (
        f"WITH v (id, qty) AS (VALUES {values}) "  # noqa: S608 - names from the model, values are placeholders
        f"UPDATE {table} AS s SET stock = s.stock {sign} w.qty "
        f"FROM (SELECT x.id AS sku_id, v.qty FROM {table} AS x JOIN v ON x.id = v.id WHERE x.enterprise_id = %s "
        f"ORDER BY x.id{lock}) AS w "
        f"WHERE s.id = w.sku_id{enough} RETURNING id"  # unqualified: SQLite allows no alias there
    )
    params: list[int] = [n for sku_id in ids for n in (sku_id, change[sku_id])] + [enterprise_id]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {int(row[0]) for row in cursor.fetchall()}


def _move_stock_per_row(enterprise_id: int, change: Mapping[int, int], *, take: bool) -> set[int]:
    moved = set()
    for sku_id in sorted(change):
        rows = Sku.objects.filter(id=sku_id, enterprise_id=enterprise_id)
        if take:
            rows = rows.filter(is_active=True, stock__gte=change[sku_id])
        if rows.update(stock=F("stock") - change[sku_id] if take else F("stock") + change[sku_id]):
            moved.add(sku_id)
    return moved


def _raise_unavailable(enterprise_id: int, sku_id: int, quantity: int, index: int) -> None:
    row = Sku.objects.filter(id=sku_id, enterprise_id=enterprise_id).values_list("stock", "is_active").first()
    if row is None or not row[1]:
        raise NotFound(
            _("unknown SKU %(sku_id)s") % {"sku_id": sku_id},
            field=f"lines[{index}].sku_id", index=index, code="unknown_sku",
        )
    raise Conflict(
        _("only %(value)s left of SKU %(sku_id)s, %(quantity)s wanted")
        % {"value": row[0], "sku_id": sku_id, "quantity": quantity},
        field=f"lines[{index}].quantity", index=index, code="out_of_stock",
    )


def release_stock(*, enterprise_id: int, items: Sequence[StockItem]) -> None:
    """Give stock back (a cancelled or refunded order): `stock = stock + n`, one statement, rows locked in id order."""
    demand = _aggregate(items)
    with transaction.atomic():
        given = _move_stock(enterprise_id, {sku_id: quantity for sku_id, (quantity, _i) in demand.items()}, take=False)
        for sku_id in sorted(demand):
            if sku_id not in given:
                index = demand[sku_id][1]
                raise NotFound(
                    _("unknown SKU %(sku_id)s") % {"sku_id": sku_id},
                    field=f"lines[{index}].sku_id", index=index, code="unknown_sku",
                )


@transaction.atomic
def adjust_stock(*, scope: Scope, sku_id: int, delta: int, reason: str = "", actor: Actor = None) -> int:
    """Add (or with a negative delta remove) stock by hand: a stock-take or a delivery. Returns the new stock."""
    require_editor(scope)
    if not isinstance(delta, int) or delta == 0:
        raise ValidationFailed(_("delta must be a non-zero whole number"), field="delta", code="invalid_quantity")
    changed = Sku.objects.filter(id=sku_id, enterprise_id=scope.enterprise_id, stock__gte=-delta).update(
        stock=F("stock") + delta
    )
    if changed != 1:
        _raise_unavailable(scope.enterprise_id, sku_id, -delta, 0)
    stock = Sku.objects.values_list("stock", flat=True).get(id=sku_id)
    audit.record(enterprise_id=scope.enterprise_id,
                 actor=actor, action="sku.stock", target_type="sku", target_id=sku_id,
                 summary=f"{delta:+d} → {stock} {reason}".strip())
    return int(stock)


# ---------------------------------------------------------------------------------------------------------------
# Bundles


@dataclass(frozen=True)
class BundleItemInput:
    sku_id: int
    quantity: int = 1


@dataclass(frozen=True)
class BundleInput:
    name: str
    price: Money
    items: Sequence[BundleItemInput]
    status: str = ProductStatus.DRAFT
    description: str = ""
    images: Sequence[str] = ()


def _clean_bundle_items(enterprise_id: int, data: BundleInput) -> list[tuple[int, int]]:
    if not data.items:
        raise ValidationFailed(_("a bundle needs at least one SKU"), field="items", code="required")
    skus = {
        s.pk: s for s in Sku.objects.filter(enterprise_id=enterprise_id, id__in=[i.sku_id for i in data.items])
        .select_related("product")
    }
    seen: set[int] = set()
    list_total = 0
    for index, item in enumerate(data.items):
        sku = skus.get(item.sku_id)
        if sku is None or not sku.is_active:
            raise NotFound(
                _("unknown SKU %(sku_id)s") % {"sku_id": item.sku_id},
                field=f"items[{index}].sku_id", index=index, code="unknown_sku",
            )
        if item.sku_id in seen:
            raise ValidationFailed(_("a SKU appears twice; raise its quantity instead"), field=f"items[{index}].sku_id",
                                   index=index, code="duplicate_sku")
        if not isinstance(item.quantity, int) or not 1 <= item.quantity <= 99:
            raise ValidationFailed(_("quantity is 1-99"), field=f"items[{index}].quantity", index=index,
                                   code="invalid_quantity")
        if sku.product.currency != data.price.currency:
            raise ValidationFailed(_("the bundle and its SKUs need one currency"), field=f"items[{index}].sku_id",
                                   index=index, code="currency_mismatch")
        seen.add(item.sku_id)
        list_total += sku.price_fen * item.quantity
    if sum(i.quantity for i in data.items) < 2:
        raise ValidationFailed(_("a bundle holds at least two pieces"), field="items", code="too_small")
    if data.price.fen > list_total:
        raise ValidationFailed(
            _("the bundle price is above its parts (%(Money)s)") % {"Money": Money(list_total, data.price.currency)},
            field="price", code="bundle_price_above_components",
        )
    return [(i.sku_id, i.quantity) for i in data.items]


def _clean_bundle(enterprise_id: int, data: BundleInput) -> tuple[dict[str, Any], list[tuple[int, int]]]:
    name = (data.name or "").strip()
    if not name:
        raise ValidationFailed(_("name is required"), field="name", code="required")
    if len(name) > 120:
        raise ValidationFailed(_("name is at most 120 characters"), field="name", code="too_long")
    if data.price.fen < 0:
        raise ValidationFailed(_("price cannot be negative"), field="price", code="negative_price")
    if data.status not in ProductStatus.values:
        raise ValidationFailed(
            _("status must be one of %(join)s") % {"join": ', '.join(ProductStatus.values)},
            field="status",
            code="unknown_status",
        )
    items = _clean_bundle_items(enterprise_id, data)
    fields = {
        "name": name, "price_fen": data.price.fen, "currency": data.price.currency, "status": data.status,
        "description": data.description.strip(), "images": _clean_images(data.images),
    }
    return fields, items


@transaction.atomic
def create_bundle(*, scope: Scope, data: BundleInput, actor: Actor = None) -> Bundle:
    require_editor(scope)
    fields, items = _clean_bundle(scope.enterprise_id, data)
    bundle = Bundle.objects.create(enterprise_id=scope.enterprise_id, **fields)
    BundleItem.objects.bulk_create([BundleItem(bundle=bundle, sku_id=s, quantity=q) for s, q in items])
    audit.record(enterprise_id=scope.enterprise_id,
                 actor=actor, action="bundle.create", target_type="bundle", target_id=bundle.pk, summary=bundle.name)
    return bundle


@transaction.atomic
def update_bundle(*, scope: Scope, bundle_id: int, data: BundleInput, actor: Actor = None) -> Bundle:
    require_editor(scope)
    bundle = Bundle.objects.select_for_update().filter(id=bundle_id, enterprise_id=scope.enterprise_id).first()
    if bundle is None:
        raise NotFound(_("bundle %(bundle_id)s not found") % {"bundle_id": bundle_id}, field="bundle_id")
    fields, items = _clean_bundle(scope.enterprise_id, data)
    for key, value in fields.items():
        setattr(bundle, key, value)
    bundle.save()
    BundleItem.objects.filter(bundle=bundle).delete()
    BundleItem.objects.bulk_create([BundleItem(bundle=bundle, sku_id=s, quantity=q) for s, q in items])
    audit.record(enterprise_id=scope.enterprise_id,
                 actor=actor, action="bundle.update", target_type="bundle", target_id=bundle.pk, summary=bundle.name)
    return bundle


# ---------------------------------------------------------------------------------------------------------------
# Demo data


@dataclass(frozen=True)
class DemoCatalog:
    """What the seed created. `repurchase_days` tells the order generator how often a product is bought again
    (None: durable goods, bought once)."""

    categories: int
    products: int
    skus: int
    bundles: int
    coupon_templates: int
    full_reductions: int
    product_ids: list[int]
    sku_ids: list[int]
    repurchase_days: dict[int, int | None]


def _yuan(text: str) -> int:
    whole, _ignored, frac = text.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def _demo_price(base_fen: int, factor: int) -> int:
    """Scale a base price by factor% and end it in .90 like shelf prices do."""
    if factor == 100:
        return base_fen
    yuan = (base_fen * factor // 100 + 50) // 100
    return yuan * 100 - 10 if yuan >= 10 else base_fen * factor // 100


def _demo_member_price(price: int, role: str, rng: Random) -> int | None:
    if role == ProductRole.TRAFFIC and rng.random() < 0.5:
        return None
    pct = {ProductRole.TRAFFIC: 95, ProductRole.PROFIT: 90, ProductRole.IMAGE: 95}[ProductRole(role)]
    return (price * pct // 100) // 10 * 10


def _demo_skus(enterprise_id: int, product: Product, entry: demo_data.ProductEntry, rng: Random,
               counter: Iterable[int]) -> list[Sku]:
    base = _yuan(entry.price)
    combos: list[tuple[dict[str, str], int]] = [({}, 100)]
    for dim, options in entry.specs:
        combos = [({**specs, dim: label}, pct * factor // 100) for specs, pct in combos for label, factor in options]
    rows: list[Sku] = []
    for (specs, factor), number in zip(combos, counter, strict=False):
        price = _demo_price(base, factor)
        rows.append(Sku(
            enterprise_id=enterprise_id, product=product, code=f"SY{number:05d}", specs=specs,
            spec_key=spec_key(specs), price_fen=price, member_price_fen=_demo_member_price(price, entry.role, rng),
            stock=rng.choice([20, 60, 120, 300, 800]), sort=len(rows),
        ))
    return rows


@dataclass(frozen=True)
class DemoExtension:
    """What an app builds on the demo catalog (promotions: coupon templates and full-reductions): `seed` makes them
    and returns (coupon templates, full-reductions); `counts` reports them on a seeded enterprise. Registered from the
    app's ready(), so the catalog never imports the apps built on it."""

    seed: Callable[..., tuple[int, int]]
    counts: Callable[..., tuple[int, int]]


_DEMO_EXTENSIONS: dict[str, DemoExtension] = {}


def register_demo_extension(name: str, extension: DemoExtension) -> None:
    _DEMO_EXTENSIONS[name] = extension


def _demo_extras(made: Iterable[tuple[int, int]]) -> tuple[int, int]:
    totals = list(made)
    return sum(t[0] for t in totals), sum(t[1] for t in totals)


@transaction.atomic
def seed_demo_catalog(enterprise_id: int, rng: Random) -> DemoCatalog:
    """The demo enterprise's catalog: 4 top categories, 12 leaves, 61 products across roles, 4 bundles, and the
    promotions on top (coupon templates, full-reductions). Running it again on a seeded enterprise adds nothing."""
    if Product.objects.filter(enterprise_id=enterprise_id).exists():
        return _existing_demo(enterprise_id)
    counter = iter(range(1, 100_000))
    products: list[Product] = []
    repurchase: dict[int, int | None] = {}
    skus: list[Sku] = []
    leaves = 0
    for root_index, root_entry in enumerate(demo_data.CATALOG):
        root = Category.objects.create(enterprise_id=enterprise_id, name=root_entry.name, sort=root_index)
        for leaf_index, leaf_entry in enumerate(root_entry.children):
            leaf = Category.objects.create(enterprise_id=enterprise_id, parent=root, name=leaf_entry.name,
                                           sort=leaf_index)
            leaves += 1
            for entry in leaf_entry.products:
                product = Product.objects.create(
                    enterprise_id=enterprise_id, category=leaf, name=entry.name, role=entry.role,
                    status=ProductStatus.ON_SALE, subtitle=entry.subtitle, selling_points=entry.selling_points,
                    images=[f"/static/catalog/demo/{leaf_index % 4 + 1}.svg"], sort=len(products),
                )
                products.append(product)
                repurchase[product.pk] = leaf_entry.repurchase_days
                skus.extend(_demo_skus(enterprise_id, product, entry, rng, counter))
    Sku.objects.bulk_create(skus)
    bundles = _seed_demo_bundles(enterprise_id)
    promos = _demo_extras(ext.seed(enterprise_id=enterprise_id, rng=rng) for ext in _DEMO_EXTENSIONS.values())
    return DemoCatalog(
        categories=len(demo_data.CATALOG) + leaves, products=len(products), skus=len(skus), bundles=bundles,
        coupon_templates=promos[0], full_reductions=promos[1], product_ids=[p.pk for p in products],
        sku_ids=list(Sku.objects.filter(enterprise_id=enterprise_id).order_by("id").values_list("id", flat=True)),
        repurchase_days=repurchase,
    )


def _seed_demo_bundles(enterprise_id: int) -> int:
    by_name = {
        p.name: p for p in Product.objects.filter(enterprise_id=enterprise_id).prefetch_related("skus")
    }
    made = 0
    for bundle_entry in demo_data.BUNDLES:
        parts = []
        for product_name, quantity in bundle_entry.items:
            sku = by_name[product_name].skus.all()[0]
            parts.append((sku, quantity))
        list_total = sum(sku.price_fen * q for sku, q in parts)
        price = (list_total * bundle_entry.percent // 100) // 100 * 100 - 10
        bundle = Bundle.objects.create(
            enterprise_id=enterprise_id, name=bundle_entry.name, description=bundle_entry.description,
            price_fen=price, status=ProductStatus.ON_SALE,
        )
        BundleItem.objects.bulk_create([BundleItem(bundle=bundle, sku=sku, quantity=q) for sku, q in parts])
        made += 1
    return made


def _existing_demo(enterprise_id: int) -> DemoCatalog:
    products = list(Product.objects.filter(enterprise_id=enterprise_id).select_related("category").order_by("id"))
    cycles = {leaf.name: leaf.repurchase_days for root in demo_data.CATALOG for leaf in root.children}
    templates, reductions = _demo_extras(ext.counts(enterprise_id=enterprise_id) for ext in _DEMO_EXTENSIONS.values())
    sku_ids = list(Sku.objects.filter(enterprise_id=enterprise_id).order_by("id").values_list("id", flat=True))
    return DemoCatalog(
        categories=Category.objects.filter(enterprise_id=enterprise_id).count(), products=len(products),
        skus=len(sku_ids), bundles=Bundle.objects.filter(enterprise_id=enterprise_id).count(),
        coupon_templates=templates, full_reductions=reductions, product_ids=[p.pk for p in products],
        sku_ids=sku_ids, repurchase_days={p.pk: cycles.get(p.category.name) for p in products},
    )
