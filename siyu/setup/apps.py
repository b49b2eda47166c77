from django.apps import AppConfig


class SetupConfig(AppConfig):
    name = "siyu.setup"
    label = "setup"
    verbose_name = "Set-up"
