from django.apps import AppConfig


class WecomConfig(AppConfig):
    name = "siyu.channels.wecom"
    label = "wecom"
    verbose_name = "WeCom"

    def ready(self) -> None:
        from siyu.channels.wecom import events, seed

        events.install()
        seed.install()

        from siyu.channels.wecom import tasks
        from siyu.core.periodic import register_periodic

        register_periodic("wecom.housekeeping", tasks.wecom_housekeeping, every_s=60, args=(False,))
