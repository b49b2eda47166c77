from django.apps import AppConfig


class AutomationConfig(AppConfig):
    name = "siyu.automation"
    label = "automation"
    verbose_name = "Automation"

    def ready(self) -> None:
        from siyu.automation import events, services, tasks  # noqa: F401 - registers the event types and tasks
        from siyu.core.periodic import register_periodic
        from siyu.customers.services import register_merge_step

        register_merge_step("automation", services.merge_customer_journeys)

        register_periodic("automation.tick", tasks.tick_task, every_s=2)
        register_periodic("automation.task_sends", tasks.sync_sends_task, every_s=5)
