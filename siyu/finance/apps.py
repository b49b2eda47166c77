from django.apps import AppConfig


class FinanceConfig(AppConfig):
    name = "siyu.finance"
    label = "finance"
    verbose_name = "Finance"

    def ready(self) -> None:
        from siyu.core.periodic import register_periodic
        from siyu.finance import demo, services, tasks
        from siyu.orders import offline_payments, payment_closers

        offline_payments.register(services.record_offline_payment)
        payment_closers.register(services.close_expiring_payments)
        demo.install()  # the demo's Pay merchant and a few orders through the ledger (a seed step)

        register_periodic("finance.sync_stale_payments", tasks.sync_stale_payments_task, every_s=60)
        register_periodic("finance.sync_stale_refunds", tasks.sync_stale_refunds_task, every_s=300)
        register_periodic("finance.pay_out_system_refunds", tasks.pay_out_system_refunds_task, every_s=60)

        # Reconciliation: a daily job, ticked hourly so a day the platform was not ready for is tried again
        from siyu.finance.reconciliation import tasks as reconciliation_tasks

        register_periodic("finance.reconcile_due", reconciliation_tasks.reconcile_due_task, every_s=3600)
