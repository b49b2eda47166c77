from django.urls import path

from siyu.finance import views

app_name = "finance"
urlpatterns = [
    path("", views.trial_balance, name="index"),
    path("statement/", views.statement, name="statement"),
    path("entries/<int:entry_id>/reverse/", views.reverse_entry, name="reverse"),
    path("wechatpay/callback/<str:mch_id>/", views.wechatpay_notify, name="wechatpay_notify"),
]
