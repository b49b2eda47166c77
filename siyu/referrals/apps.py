from django.apps import AppConfig


class ReferralsConfig(AppConfig):
    name = "siyu.referrals"
    label = "referrals"
    verbose_name = "Referrals"

    def ready(self) -> None:
        from siyu.channels.wecom import group_codes
        from siyu.core.periodic import register_periodic
        from siyu.customers.services import register_merge_step
        from siyu.orders import hooks
        from siyu.referrals import services, tasks

        hooks.register_refunded("referrals.reverse", services.reverse_for_refund)
        register_merge_step("referrals", services.merge_customer_referrals)
        register_periodic("referrals.scan", tasks.scan_task, every_s=300)
        register_periodic("referrals.progress", tasks.send_progress_task, every_s=60)
        group_codes.register_share_way_listener(services.share_way_seen)
