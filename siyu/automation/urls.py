from django.urls import path

from siyu.automation import views

app_name = "automation"
urlpatterns = [
    path("", views.journeys, name="journeys"),
    path("<int:journey_id>/", views.journey, name="journey"),
    path("<int:journey_id>/status/", views.journey_status, name="status"),
    path("new/", views.journey_builder, name="new"),
    path("<int:journey_id>/edit/", views.journey_builder, name="edit"),
    path("tasks/", views.my_tasks, name="my_tasks"),
    path("tasks/all/", views.task_list, name="task_list"),
    path("supervision/", views.supervision, name="supervision"),
    path("supervision/remind/", views.supervision_remind, name="remind"),
]
