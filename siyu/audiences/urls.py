from django.urls import path

from siyu.audiences import views

app_name = "audiences"
urlpatterns = [
    path("", views.segment_list, name="index"),
    path("new/", views.segment_new, name="new"),
    path("preview/", views.segment_preview, name="preview"),
    path("rfm/", views.rfm_page, name="rfm"),
    path("tag-rules/", views.tag_rule_list, name="tag_rules"),
    path("tag-rules/<int:rule_id>/delete/", views.tag_rule_delete, name="tag_rule_delete"),
    path("<int:segment_id>/", views.segment_detail, name="detail"),
    path("<int:segment_id>/edit/", views.segment_edit, name="edit"),
    path("<int:segment_id>/delete/", views.segment_delete, name="delete"),
    path("<int:segment_id>/coupon/", views.segment_coupon, name="coupon"),
    path("<int:segment_id>/snapshot/", views.segment_snapshot, name="snapshot"),
    path("<int:segment_id>/export.csv", views.segment_export, {"fmt": "csv"}, name="export_csv"),
    path("<int:segment_id>/export.xlsx", views.segment_export, {"fmt": "xlsx"}, name="export_xlsx"),
]
