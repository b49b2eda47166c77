from django.urls import path

from siyu.messaging import views

app_name = "messaging"
urlpatterns = [
    path("", views.campaigns, name="campaigns"),
    path("<int:campaign_id>/", views.campaign, name="campaign"),
    path("<int:campaign_id>/<str:action>/", views.act, name="act"),
]
