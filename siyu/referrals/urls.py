from django.urls import path

from siyu.referrals import views

app_name = "referrals"
urlpatterns = [
    path("", views.campaigns, name="campaigns"),
    path("<int:campaign_id>/", views.campaign, name="campaign"),
    path("r/<str:token>/", views.share, name="share"),
    path("r/<str:token>/poster.png", views.poster_png, name="poster"),
]
