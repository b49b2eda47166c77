"""Event types the catalog writes. It writes none of its own today: a customer viewing a product is the built-in
`product_viewed` (customers.events), written by the storefront. Kept so the catalog's registrations have a home."""

from __future__ import annotations
