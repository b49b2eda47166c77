from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "siyu.orders"
    label = "orders"
    verbose_name = "Orders"

    def ready(self) -> None:
        from siyu.customers.queries import register_merge_count
        from siyu.customers.sections import register_profile_section
        from siyu.customers.services import register_merge_step
        from siyu.orders import (
            events,  # noqa: F401  (registers order_* and refund_* event types)
            seed,
        )
        from siyu.orders.queries import order_count
        from siyu.orders.services.merge import merge_customer_orders
        from siyu.orders.views import profile_orders

        register_merge_step("orders", merge_customer_orders)
        register_merge_count("orders", order_count)
        seed.install()

        from siyu.core.periodic import register_periodic
        from siyu.orders import tasks


        register_periodic("orders.expire_unpaid", tasks.expire_unpaid_orders_task, every_s=60)
        register_periodic("orders.refund_failed_group_buys", tasks.refund_failed_group_buys_task, every_s=60)
        register_profile_section("orders", profile_orders)

        from siyu.customers.sections import register_namer
        from siyu.orders.queries import order_item_summaries

        register_namer("order_items", order_item_summaries)
