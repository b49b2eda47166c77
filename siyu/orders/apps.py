from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "siyu.orders"
    label = "orders"
    verbose_name = "Orders"

    def ready(self) -> None:
        from siyu.console.hooks import register_profile_section
        from siyu.customers.services import register_merge_step
        from siyu.orders import events  # noqa: F401  (registers order_* and refund_* event types)
        from siyu.orders.services import merge_customer_orders
        from siyu.orders.views import profile_orders

        register_merge_step("orders", merge_customer_orders)
        register_profile_section("orders", profile_orders)
