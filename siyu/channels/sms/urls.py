"""Mounted at /channels/sms/: the provider's callback and the console page."""

from django.urls import path

from siyu.channels.sms import views

app_name = "sms"
urlpatterns = [
    path("", views.messages, name="messages"),
    path("callback/", views.callback, name="callback"),
]
