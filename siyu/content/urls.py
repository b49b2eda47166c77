from django.urls import path

from siyu.content import views

app_name = "content"
urlpatterns = [
    path("", views.material_list, name="index"),
    path("folders/", views.folder_create, name="folders"),
    path("materials/new/", views.material_new, name="material_new"),
    path("materials/<int:material_id>/", views.material_detail, name="material"),
    path("materials/<int:material_id>/<str:which>/", views.material_file, name="material_file"),
    path("scripts/", views.script_list, name="scripts"),
    path("scripts/new/", views.script_edit, name="script_new"),
    path("scripts/<int:script_id>/", views.script_edit, name="script"),
]
