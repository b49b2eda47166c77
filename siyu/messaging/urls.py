from django.urls import path

from siyu.messaging import views

app_name = "messaging"
urlpatterns = [
    path("", views.campaigns, name="campaigns"),
    path("<int:campaign_id>/", views.campaign, name="campaign"),
    path("<int:campaign_id>/plan/", views.plan, name="plan"),
    path("<int:campaign_id>/launch/", views.launch, name="launch"),
    path("<int:campaign_id>/cancel/", views.cancel, name="cancel"),
]
