from django.apps import AppConfig


class ExportsConfig(AppConfig):
    name = "siyu.exports"
    label = "exports"
    verbose_name = "Exports"

    def ready(self) -> None:
        from siyu.core.periodic import register_periodic
        from siyu.exports import tasks  # registers the export task

        register_periodic("exports.requeue_lost", tasks.requeue_lost_exports_task, every_s=60)
