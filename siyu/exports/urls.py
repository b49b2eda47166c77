from django.urls import path

from siyu.exports import views

app_name = "exports"
urlpatterns = [
    path("", views.export_list, name="list"),
    path("start/", views.start, name="start"),
    path("<int:export_id>/download/", views.download, name="download"),
]
