from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "siyu.messaging"
    label = "messaging"
    verbose_name = "Messaging"

    def ready(self) -> None:
        from siyu.core.periodic import register_periodic
        from siyu.messaging import services, tasks
        from siyu.orders import hooks

        hooks.register_paid("messaging.conversions", services.credit_conversions)
        register_periodic("messaging.send_due", tasks.send_due_task, every_s=15)
