from django.urls import path

from siyu.automation import views

app_name = "automation"
urlpatterns = [
    path("", views.journeys, name="journeys"),
    path("<int:journey_id>/", views.journey, name="journey"),
    path("<int:journey_id>/status/", views.journey_status, name="status"),
]
