from django.urls import path

from siyu.analytics import views

app_name = "analytics"
urlpatterns = [
    path("", views.dashboard_page, name="index"),
    path("<slug:name>/", views.dashboard_page, name="dashboard"),
    path("<slug:name>/export.xlsx", views.dashboard_export, name="export"),
]
