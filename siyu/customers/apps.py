from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "siyu.customers"
    label = "customers"
    verbose_name = "Customers"

    def ready(self) -> None:
        from siyu.customers import events  # noqa: F401  (registers the built-in event types)
