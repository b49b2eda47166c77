from django.urls import path

from siyu.analytics import queries, views

app_name = "analytics"
urlpatterns = [
    path("", views.page, {"name": "overview"}, name="index"),
    path("costs/", views.costs, name="costs"),
    *(path(f"{name}/", views.page, {"name": name}, name=name) for name in queries.names()),
    *(path(f"{name}/export.xlsx", views.export, {"name": name}, name=f"{name}_export") for name in queries.names()),
]
