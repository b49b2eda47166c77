"""The shopper's own reads: my orders, one of my orders, my cart, my address book (the signed-in customer, not a
staff Scope), and the brand a mall URL names."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core import signing
from django.db.models import F, Prefetch, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.catalog.models import Product, ProductStatus
from siyu.core.errors import NotFound, PermissionDenied
from siyu.core.pagination import Page, paginate
from siyu.orders import queries as order_queries
from siyu.orders.models import CartItem, Order, OrderLine, OrderStatus, StorefrontSession
from siyu.org.models import Enterprise, Role, Store
from siyu.org.scope import Scope
from siyu.storefront.models import MallAddress, StorePage, StorePageVersion


def my_orders(*, enterprise_id: int, customer_id: int, status: str = "", page: int = 1,
              page_size: int = 20) -> Page[Order]:
    qs = Order.objects.filter(enterprise_id=enterprise_id, customer_id=customer_id)
    if status:
        qs = qs.filter(status=status)
    return paginate(qs.prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("index")))
                    .order_by("-created_at", "-id"), page=page, page_size=page_size)


def my_order(*, enterprise_id: int, customer_id: int, order_id: int) -> Order:
    mine = Order.objects.filter(enterprise_id=enterprise_id, customer_id=customer_id)
    found = order_queries.with_details(mine).filter(pk=order_id).first()
    if found is None:
        raise NotFound(_("order %(order_id)s not found") % {"order_id": order_id}, field="order_id")
    return found


def cart_items(*, enterprise_id: int, customer_id: int) -> list[CartItem]:
    return list(CartItem.objects.filter(enterprise_id=enterprise_id, customer_id=customer_id).select_related(
        "sku", "sku__product", "bundle").order_by("added_at", "id"))


# ---------------------------------------------------------------------------------------------------------------
# The H5 mall


def mall_enterprise(code: str) -> Enterprise:
    """The brand whose mall is at /m/<code>/ (404 for an unknown code, naming nothing else)."""
    found = Enterprise.objects.filter(code=code).first() if len(code) <= 64 else None
    if found is None:
        raise NotFound(_("no such shop"), field="enterprise")
    return found


def addresses(*, enterprise_id: int, customer_id: int, limit: int = 20) -> list[MallAddress]:
    """The book, the default first, then the newest."""
    return list(MallAddress.objects.filter(enterprise_id=enterprise_id, customer_id=customer_id)
                .order_by("-is_default", "-created_at", "-id")[:limit])


def address(*, enterprise_id: int, customer_id: int, address_id: int) -> MallAddress:
    found = MallAddress.objects.filter(enterprise_id=enterprise_id, customer_id=customer_id, pk=address_id).first()
    if found is None:
        raise NotFound(_("address %(address_id)s not found") % {"address_id": address_id}, field="address_id")
    return found


def session_row(session_id: int) -> StorefrontSession | None:
    return StorefrontSession.objects.filter(pk=session_id).first()


def my_order_by_key(*, enterprise_id: int, customer_id: int, idempotency_key: str) -> int | None:
    """The order this customer already placed with this key (a repeated checkout form), if any."""
    return Order.objects.filter(enterprise_id=enterprise_id, customer_id=customer_id,
                                idempotency_key=idempotency_key).values_list("pk", flat=True).first()


# ---------------------------------------------------------------------------------------------------------------
# Store design (店铺装修)

PREVIEW_SALT = "siyu.storefront.page-preview"
PREVIEW_MAX_AGE_S = 3600


def design_pages(scope: Scope) -> QuerySet[StorePage]:
    """The pages this staff member may design: HQ all of them, a store manager their store's variant; the designer
    is not for other roles (403)."""
    qs = StorePage.objects.filter(enterprise_id=scope.enterprise_id)
    if not scope.is_hq:
        if scope.role != Role.STORE_MANAGER:
            raise PermissionDenied(_("only HQ, or a store's manager for their store, can design mall pages"),
                                   code="forbidden")
        qs = qs.filter(store_id__in=scope.store_ids)
    return qs.select_related("store").order_by(F("store_id").asc(nulls_first=True), "key", "id")


def design_page(scope: Scope, page_id: int) -> StorePage:
    found = design_pages(scope).filter(pk=page_id).first()
    if found is None:
        raise NotFound(_("page %(page_id)s not found") % {"page_id": page_id}, field="page_id")
    return found


def page_versions(page: StorePage) -> QuerySet[StorePageVersion]:
    return page.versions.order_by("-number")


def live_page(*, enterprise_id: int, store_id: int | None, key: str = "home") -> StorePageVersion | None:
    """What the mall serves: the store's own published page, else HQ's; never a draft (None: nothing published)."""
    pages = StorePage.objects.filter(enterprise_id=enterprise_id, key=key, published_version__isnull=False)
    for page in ([pages.filter(store_id=store_id).first()] if store_id else []) + [pages.filter(
            store__isnull=True).first()]:
        if page is not None and page.published_version is not None:
            return page.versions.filter(number=page.published_version).first()
    return None


def mall_code(enterprise_id: int) -> str:
    return str(Enterprise.objects.filter(pk=enterprise_id).values_list("code", flat=True).get())


def mall_store(*, enterprise_id: int, code: str) -> int | None:
    """The id of the brand's store a mall link names (?store=<code>), if it is one."""
    if not code or len(code) > 64:
        return None
    return Store.objects.filter(enterprise_id=enterprise_id, code=code, is_active=True).values_list(
        "pk", flat=True).first()


def preview_token(page: StorePage) -> str:
    """A signed, expiring token naming one page's draft at one revision: the preview link's."""
    return signing.dumps({"p": page.pk, "r": page.draft_revision}, salt=PREVIEW_SALT, compress=True)


def preview_page(scope: Scope, token: str) -> StorePage:
    """The page a preview token names, for a staff member who may see it; a forged, expired or stale token is a 404
    (a preview shows the draft it was made for, or nothing)."""
    try:
        data = signing.loads(token, salt=PREVIEW_SALT, max_age=PREVIEW_MAX_AGE_S)
    except signing.BadSignature:
        raise NotFound(_("this preview link is not valid or has expired"), field="token") from None
    page = design_page(scope, int(data.get("p", 0)))
    if page.draft_revision != data.get("r"):
        raise NotFound(_("the draft has changed since this preview link was made"), field="token")
    return page


# ---------------------------------------------------------------------------------------------------------------
# Designed components


BEST_SELLER_DAYS = 30
SOLD_STATUSES = (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.PICKED_UP, OrderStatus.COMPLETED)


def best_seller_ids(*, enterprise_id: int, limit: int, now: datetime | None = None) -> list[int]:
    """The on-sale products that sold the most units (net of refunded units) on orders paid in the last 30 days,
    most first (ties: the lower id). One grouped query over the order lines, whatever the number of orders."""
    since = (now or timezone.now()) - timedelta(days=BEST_SELLER_DAYS)
    on_sale = Product.objects.filter(enterprise_id=enterprise_id, status=ProductStatus.ON_SALE).values("pk")
    rows = (OrderLine.objects
            .filter(order__enterprise_id=enterprise_id, order__status__in=SOLD_STATUSES, order__paid_at__gte=since,
                    product_id__in=on_sale)
            .values("product_id").annotate(units=Sum(F("quantity") - F("refunded_quantity")))
            .filter(units__gt=0).order_by("-units", "product_id").values_list("product_id", flat=True)[:limit])
    return [int(pk) for pk in rows if pk is not None]


def mall_stores(*, enterprise_id: int, limit: int = 100) -> list[Store]:
    """The brand's open stores, for the store selector (a store's link shows its variant of the home page)."""
    return list(Store.objects.filter(enterprise_id=enterprise_id, is_active=True).order_by("code")[:limit])
