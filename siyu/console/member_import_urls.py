from django.urls import path

from siyu.console import member_imports as views

app_name = "member_imports"
urlpatterns = [
    path("", views.import_list, name="index"),
    path("<int:member_import_id>/", views.import_detail, name="detail"),
    path("<int:member_import_id>/errors.xlsx", views.import_errors_xlsx, name="errors"),
    path("<int:member_import_id>/<slug:action>/", views.import_action, name="action"),
]
