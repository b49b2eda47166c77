from django.urls import path

from siyu.channels.wecom import org_views, views

# Included by siyu/channels/urls.py under /channels/wecom/ (namespace "channels").
urlpatterns = [
    path("callback/<int:account_id>/", views.callback, name="wecom_callback"),
    path("qr/<str:config_id>/", views.landing, name="wecom_landing"),
    path("codes/", views.code_list, name="wecom_codes"),
    path("codes/new/", views.code_new, name="wecom_code_new"),
    path("codes/<int:code_id>/", views.code_detail, name="wecom_code"),
    path("codes/<int:code_id>/disable/", views.code_disable, name="wecom_code_disable"),
    path("gq/<str:config_id>/", views.group_code_landing, name="wecom_group_code_landing"),
    path("group-codes/", views.group_code_list, name="wecom_group_codes"),
    path("group-codes/new/", views.group_code_new, name="wecom_group_code_new"),
    path("group-codes/<int:group_code_id>/", views.group_code_detail, name="wecom_group_code"),
    path("group-codes/<int:group_code_id>/groups/", views.group_code_add_groups, name="wecom_group_code_groups"),
    path("group-codes/<int:group_code_id>/disable/", views.group_code_disable, name="wecom_group_code_disable"),
    path("groups/", views.group_list, name="wecom_groups"),
    path("groups/duplicates/", views.group_duplicates, name="wecom_group_duplicates"),
    path("groups/<int:group_id>/", views.group_detail, name="wecom_group"),
    path("transfers/", views.transfer_list, name="wecom_transfers"),
    path("transfers/<int:job_id>/", views.transfer_detail, name="wecom_transfer"),
    path("outbox/", views.outbox, name="wecom_outbox"),
    path("mass-sends/", views.mass_send_list, name="wecom_mass_sends"),
    path("mass-sends/new/", views.mass_send_new, name="wecom_mass_send_new"),
    path("mass-sends/<int:mass_send_id>/", views.mass_send_detail, name="wecom_mass_send"),
    path("mass-sends/<int:mass_send_id>/<str:action>/", views.mass_send_action, name="wecom_mass_send_action"),
    path("moments/", views.moment_list, name="wecom_moments"),
    path("moments/new/", views.moment_new, name="wecom_moment_new"),
    path("moments/<int:task_id>/", views.moment_detail, name="wecom_moment"),
    path("moments/<int:task_id>/<str:action>/", views.moment_action, name="wecom_moment_action"),
    path("accounts/<int:account_id>/directory/sync/", org_views.directory_sync, name="wecom_directory_sync"),
    path("accounts/<int:account_id>/<str:action>/", views.account_action, name="wecom_account_action"),
    path("directory/", org_views.departments, name="wecom_directory"),
    path("login/", org_views.sign_in, name="wecom_login"),
    path("login/callback/", org_views.sign_in_callback, name="wecom_login_callback"),
]
