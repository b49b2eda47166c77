from django.urls import path

from siyu.analytics import views

app_name = "analytics"
urlpatterns = [
    path("", views.overview, name="index"),
    path("overview/", views.overview, name="overview"),
    path("conversion/", views.conversion, name="conversion"),
    path("retention/", views.retention, name="retention"),
    path("overview/export.xlsx", views.overview_export, name="overview_export"),
    path("conversion/export.xlsx", views.conversion_export, name="conversion_export"),
    path("retention/export.xlsx", views.retention_export, name="retention_export"),
]
