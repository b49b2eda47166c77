from django.apps import AppConfig


class WecomConfig(AppConfig):
    name = "siyu.channels.wecom"
    label = "wecom"
    verbose_name = "WeCom"
