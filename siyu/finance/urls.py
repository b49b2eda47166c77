from django.urls import path

from siyu.finance import views
from siyu.finance.reconciliation import views as reconciliation

app_name = "finance"
urlpatterns = [
    path("", views.trial_balance, name="index"),
    path("statement/", views.statement, name="statement"),
    path("entries/<int:entry_id>/reverse/", views.reverse_entry, name="reverse"),
    path("wechatpay/callback/<str:mch_id>/", views.wechatpay_notify, name="wechatpay_notify"),
    # reconciliation
    path("reconciliation/", reconciliation.days, name="reconciliation"),
    path("reconciliation/run/", reconciliation.run_day, name="reconciliation_day"),
    path("reconciliation/<int:run_id>/", reconciliation.run_detail, name="reconciliation_run"),
    path("reconciliation/differences/<int:difference_id>/resolve/", reconciliation.resolve,
         name="reconciliation_resolve"),
]
