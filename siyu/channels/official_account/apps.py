from django.apps import AppConfig


class OfficialAccountConfig(AppConfig):
    name = "siyu.channels.official_account"
    label = "official_account"
    verbose_name = "Official Account"

    def ready(self) -> None:
        from siyu.channels.official_account import events  # noqa: F401  (registers oa_menu_clicked)
        from siyu.channels.official_account.services import install

        install()
