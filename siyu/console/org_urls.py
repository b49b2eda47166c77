from django.urls import path

from siyu.console import org_pages as views

app_name = "org"
urlpatterns = [
    path("regions/", views.region_list, name="regions"),
    path("regions/<int:region_id>/", views.region_edit, name="region_edit"),
    path("stores/", views.store_list, name="stores"),
    path("stores/new/", views.store_new, name="store_new"),
    path("stores/<int:store_id>/", views.store_edit, name="store_edit"),
    path("staff/", views.staff_list, name="staff"),
    path("staff/new/", views.staff_new, name="staff_new"),
    path("staff/<int:staff_id>/", views.staff_edit, name="staff_edit"),
    path("import/", views.sheet_upload, name="import"),
    path("import/<int:sheet_id>/", views.sheet_detail, name="sheet"),
    path("import/<int:sheet_id>/apply/", views.sheet_apply, name="sheet_apply"),
]
