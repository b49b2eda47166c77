from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "siyu.messaging"
    label = "messaging"
    verbose_name = "Messaging"

    def ready(self) -> None:
        from siyu.channels.sms.services import register_receipt_hook
        from siyu.core.periodic import register_periodic
        from siyu.messaging import services, tasks
        from siyu.orders import hooks

        hooks.register_paid("messaging.conversions", services.credit_conversions)
        register_receipt_hook(lambda update: services.apply_sms_receipt(
            enterprise_id=update.enterprise_id, key=update.key, status=update.status, reported_at=update.reported_at,
            error=update.error), name="messaging.deliveries")
        register_periodic("messaging.send_due", tasks.send_due_task, every_s=15)
        from siyu.messaging import demo

        demo.install()  # the demo's campaign (a seed step, after the orders it credits)
        register_periodic("messaging.evaluate_tests", tasks.evaluate_tests_task, every_s=60)
