from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "siyu.analytics"
    label = "analytics"
    verbose_name = "Analytics"

    def ready(self) -> None:
        from siyu.analytics import copy_tables

        copy_tables.install()
