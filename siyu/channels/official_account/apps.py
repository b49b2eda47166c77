from django.apps import AppConfig


class OfficialAccountConfig(AppConfig):
    name = "siyu.channels.official_account"
    label = "official_account"
    verbose_name = "Official Account"
