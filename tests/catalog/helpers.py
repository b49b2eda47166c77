"""Build catalog rows through the services (tests state expected values by hand)."""

from __future__ import annotations

from typing import Any

from siyu.catalog import services
from siyu.catalog.models import Category, Product
from siyu.core.money import Money
from siyu.org.scope import Scope


def yuan(fen: int) -> Money:
    return Money(fen)


def leaf(scope: Scope, root: str = "日用消耗", child: str = "纸品清洁") -> Category:
    parent = Category.objects.filter(enterprise_id=scope.enterprise_id, parent=None, name=root).first()
    if parent is None:
        parent = services.create_category(scope=scope, name=root)
    found = Category.objects.filter(parent=parent, name=child).first()
    return found or services.create_category(scope=scope, name=child, parent_id=parent.pk)


def sku(code: str, price: int, member: int | None = None, stock: int = 100, **specs: str) -> services.SkuInput:
    return services.SkuInput(code=code, price=Money(price), member_price=Money(member) if member is not None else None,
                             stock=stock, specs=specs)


def product(scope: Scope, name: str, *skus: services.SkuInput, category: Category | None = None,
            **fields: Any) -> Product:
    data = services.ProductInput(name=name, category_id=(category or leaf(scope)).pk, skus=list(skus),
                                 status=fields.pop("status", "on_sale"), **fields)
    return services.create_product(scope=scope, data=data)
