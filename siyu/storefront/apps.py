from django.apps import AppConfig


class StorefrontConfig(AppConfig):
    """The customer-facing side: the mini-program login and shopper sessions, the cart, checkout and the shopper's
    own orders. Its rows (StorefrontSession, CartItem) are still the orders app's models; it calls the orders app's
    services (order states, after-sale, presale) and the orders app never imports it."""

    name = "siyu.storefront"
    label = "storefront"
    verbose_name = "Storefront"

    def ready(self) -> None:
        from siyu.core.periodic import register_periodic
        from siyu.storefront import tasks

        register_periodic("storefront.abandoned_carts", tasks.abandoned_carts_task, every_s=60)
