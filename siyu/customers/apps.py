from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "siyu.customers"
    label = "customers"
    verbose_name = "Customers"

    def ready(self) -> None:
        from siyu.customers import (
            events,  # noqa: F401  (registers the built-in event types)
            personal_data,  # noqa: F401  (registers the customers app's personal-data sections and eraser)
            tasks,  # noqa: F401  (registers the member import task)
        )
        from siyu.customers.member_import import merge_imported_profile
        from siyu.customers.services import register_merge_step

        register_merge_step("imported_profile", merge_imported_profile)
