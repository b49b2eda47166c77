from django.apps import AppConfig


class SmsConfig(AppConfig):
    name = "siyu.channels.sms"
    label = "sms"
    verbose_name = "SMS"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from siyu.channels.sms import tasks
        from siyu.core.periodic import register_periodic

        register_periodic("sms.prune_replay_keys", tasks.prune_replay_keys, every_s=300)
