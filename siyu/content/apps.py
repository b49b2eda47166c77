from django.apps import AppConfig


class ContentConfig(AppConfig):
    name = "siyu.content"
    label = "content"
    verbose_name = "Content"

    def ready(self) -> None:
        from siyu.content import tasks
        from siyu.core.periodic import register_periodic

        register_periodic("content.run_due_moments", tasks.run_due_moments, every_s=60)
