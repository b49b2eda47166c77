from django.urls import path

from siyu.setup import views

app_name = "setup"
urlpatterns = [
    path("", views.wizard, name="wizard"),
    path("accounts/", views.accounts, name="accounts"),
    path("accounts/new/<str:account_kind>/", views.account_new, name="account_new"),
    path("accounts/<int:account_id>/", views.account_edit, name="account_edit"),
    path("accounts/<int:account_id>/check/", views.account_check, name="account_check"),
    path("accounts/<int:account_id>/disable/", views.account_disable, name="account_disable"),
    path("accounts/<int:account_id>/delete/", views.account_delete, name="account_delete"),
    path("pay/new/", views.merchant_new, name="merchant_new"),
    path("pay/<int:merchant_id>/", views.merchant_edit, name="merchant_edit"),
    path("pay/<int:merchant_id>/check/", views.merchant_check, name="merchant_check"),
    path("pay/<int:merchant_id>/disable/", views.merchant_disable, name="merchant_disable"),
]
