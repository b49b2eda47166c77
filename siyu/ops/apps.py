from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "siyu.ops"
    label = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from siyu.ops import personal_data  # noqa: F401  (registers every app's personal-data sections and erasers)
