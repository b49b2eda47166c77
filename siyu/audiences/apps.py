from django.apps import AppConfig


class AudiencesConfig(AppConfig):
    name = "siyu.audiences"
    label = "audiences"
    verbose_name = "Audiences"
