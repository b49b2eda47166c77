from django.apps import AppConfig


class FinanceConfig(AppConfig):
    name = "siyu.finance"
    label = "finance"
    verbose_name = "Finance"
