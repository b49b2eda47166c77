from django.apps import AppConfig


class SeedConfig(AppConfig):
    name = "siyu.seed"
    label = "seed"
    verbose_name = "Demo data"
