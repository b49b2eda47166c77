"""Mounted at /oa/: the platform's callback and OAuth return, and the console pages."""

from django.urls import path

from siyu.channels.official_account import views

app_name = "official_account"
urlpatterns = [
    path("callback/<int:account_id>/", views.callback, name="callback"),
    path("oauth/<int:account_id>/start/", views.oauth_start, name="oauth_start"),
    path("oauth/<int:account_id>/callback/", views.oauth_callback, name="oauth_callback"),
    path("", views.index, name="index"),
    path("keywords/", views.keywords, name="keywords"),
    path("keywords/<int:reply_id>/", views.keyword_edit, name="keyword_edit"),
    path("keywords/<int:reply_id>/delete/", views.keyword_delete, name="keyword_delete"),
    path("follow-reply/", views.follow_reply, name="follow_reply"),
    path("menu/", views.menu, name="menu"),
    path("qr/", views.qr_scenes, name="qr"),
    path("qr/<int:scene_pk>/", views.qr_scene_detail, name="qr_detail"),
    path("templates/", views.template_log, name="templates"),
    path("callbacks/", views.callback_log, name="callbacks"),
    path("followers/", views.followers, name="followers"),
]
