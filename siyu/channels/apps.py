from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    name = "siyu.channels"
    label = "channels"

    def ready(self) -> None:
        from siyu.channels import tasks
        from siyu.core.periodic import register_periodic

        register_periodic("channels.prune_callback_records", tasks.prune_callback_records, every_s=60)
