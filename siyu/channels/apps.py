from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    name = "siyu.channels"
    label = "channels"
