from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "siyu.catalog"
    label = "catalog"
