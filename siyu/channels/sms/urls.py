"""Included by siyu/channels/urls.py at /channels/sms/ (names in the `channels` namespace): the provider's callback
and the console page."""

from django.urls import path

from siyu.channels.sms import views

urlpatterns = [
    path("", views.messages, name="sms_messages"),
    path("callback/", views.callback, name="sms_callback"),
]
