from django.apps import AppConfig


class ContentConfig(AppConfig):
    name = "siyu.content"
    label = "content"
    verbose_name = "Content"
