from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "siyu.catalog"
    label = "catalog"
    verbose_name = "Catalog"

    def ready(self) -> None:
        from siyu.catalog import events  # noqa: F401  (registers the catalog's event types)
        from siyu.catalog.queries import product_names
        from siyu.customers.sections import register_namer

        register_namer("products", product_names)  # the timeline names the products events point at
