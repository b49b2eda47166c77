from django.urls import include, path

from siyu.channels import views

app_name = "channels"
urlpatterns = [
    path("", views.index, name="index"),
    path("callbacks/", views.callbacks, name="callbacks"),
    path("wecom/", include("siyu.channels.wecom.urls")),
    path("sms/", include("siyu.channels.sms.urls")),
]
