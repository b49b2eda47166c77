from django.urls import path

from siyu.messaging import views

app_name = "messaging"
urlpatterns = [
    path("", views.campaigns, name="campaigns"),
    path("policy/", views.policy, name="policy"),
    path("send-rates/", views.send_rates, name="send_rates"),
    path("<int:messaging_campaign_id>/", views.campaign, name="campaign"),
    path("<int:messaging_campaign_id>/plan/", views.plan, name="plan"),
    path("<int:messaging_campaign_id>/launch/", views.launch, name="launch"),
    path("<int:messaging_campaign_id>/cancel/", views.cancel, name="cancel"),
    path("<int:messaging_campaign_id>/promote/", views.promote, name="promote"),
]
