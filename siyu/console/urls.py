from django.contrib.auth import views as auth_views
from django.urls import path

from siyu.console import privacy, views

app_name = "console"
urlpatterns = [
    path("login/", views.ConsoleLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.home, name="home"),
    path("customers/", views.customer_list, name="customers"),
    path("customers/bulk/", views.customer_bulk, name="customers_bulk"),
    path("customers/export.csv", views.customer_export, name="customers_export"),
    path("customers/<int:customer_id>/", views.customer_detail, name="customer"),
    path("customers/<int:customer_id>/tags/", views.customer_tags, name="customer_tags"),
    path("customers/<int:customer_id>/merge/", views.customer_merge, name="customer_merge"),
    path("customers/<int:customer_id>/privacy/", privacy.customer_privacy, name="customer_privacy"),
    path("customers/<int:customer_id>/privacy/consent/", privacy.customer_consent, name="customer_consent"),
    path("customers/<int:customer_id>/privacy/export/", privacy.customer_personal_data, name="customer_personal_data"),
    path("customers/<int:customer_id>/privacy/erase/", privacy.customer_erase, name="customer_erase"),
    path("pick/<str:picker>/", views.pick, name="pick"),
    path("tags/", views.tag_library, name="tags"),
    path("org/", views.org, name="org"),
    path("org/tokens/", views.api_tokens, name="api_tokens"),
    path("audit/", views.audit_log, name="audit"),
]
