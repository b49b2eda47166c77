from django.apps import AppConfig


class PromotionsConfig(AppConfig):
    name = "siyu.promotions"
    label = "promotions"
