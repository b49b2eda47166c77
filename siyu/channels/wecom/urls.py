from django.urls import path

from siyu.channels.wecom import views

# Included by siyu/channels/urls.py under /channels/wecom/ (namespace "channels").
urlpatterns = [
    path("callback/<int:account_id>/", views.callback, name="wecom_callback"),
    path("qr/<str:config_id>/", views.landing, name="wecom_landing"),
    path("codes/", views.code_list, name="wecom_codes"),
    path("codes/new/", views.code_new, name="wecom_code_new"),
    path("codes/<int:code_id>/", views.code_detail, name="wecom_code"),
    path("codes/<int:code_id>/disable/", views.code_disable, name="wecom_code_disable"),
    path("groups/", views.group_list, name="wecom_groups"),
    path("groups/<int:group_id>/", views.group_detail, name="wecom_group"),
    path("transfers/", views.transfer_list, name="wecom_transfers"),
    path("transfers/<int:job_id>/", views.transfer_detail, name="wecom_transfer"),
    path("outbox/", views.outbox, name="wecom_outbox"),
    path("accounts/<int:account_id>/<str:action>/", views.account_action, name="wecom_account_action"),
]
