from django.apps import AppConfig


class AutomationConfig(AppConfig):
    name = "siyu.automation"
    label = "automation"
    verbose_name = "Automation"

    def ready(self) -> None:
        from siyu.automation import events, tasks  # noqa: F401 - registers the event types and tasks
        from siyu.core.periodic import register_periodic

        register_periodic("automation.tick", tasks.tick_task, every_s=2)
