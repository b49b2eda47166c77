from django.apps import AppConfig


class ExportsConfig(AppConfig):
    name = "siyu.exports"
    label = "exports"
    verbose_name = "Exports"

    def ready(self) -> None:
        from siyu.exports import tasks  # noqa: F401  (registers the export task)
