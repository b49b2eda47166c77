from django.apps import AppConfig


class WecomConfig(AppConfig):
    name = "siyu.channels.wecom"
    label = "wecom"
    verbose_name = "WeCom"

    def ready(self) -> None:
        from siyu.channels.wecom import events, seed

        events.install()
        seed.install()
