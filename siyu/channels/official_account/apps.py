from django.apps import AppConfig


class OfficialAccountConfig(AppConfig):
    name = "siyu.channels.official_account"
    label = "official_account"
    verbose_name = "Official Account"

    def ready(self) -> None:
        from siyu.channels.official_account import events  # noqa: F401  (registers oa_menu_clicked)
        from siyu.channels.official_account.services import install

        install()

        from siyu.channels.official_account import tasks
        from siyu.core.periodic import register_periodic

        register_periodic("oa.requeue_callbacks", tasks.requeue_oa_callbacks, every_s=60)
        register_periodic("official_account.prune_oauth_states", tasks.prune_oauth_states, every_s=300)
