from django.urls import path

from siyu.orders import history_views, views

app_name = "orders"
urlpatterns = [
    path("", views.order_list, name="index"),
    path("export.csv", views.order_export, name="export"),
    path("<int:order_id>/", views.order_detail, name="detail"),
    path("<int:order_id>/<slug:action>/", views.order_action, name="action"),
    path("after-sales/", views.after_sale_list, name="after_sales"),
    path("after-sales/<int:after_sale_id>/<slug:action>/", views.after_sale_action, name="after_sale_action"),
    path("presales/", views.presale_report, name="presales"),
    path("presales/new/", views.presale_new, name="presale_new"),
    path("imports/", views.import_list, name="imports"),
    path("imports/<int:import_id>/", views.import_detail, name="import"),
    path("imports/<int:import_id>/report.csv", views.import_report, name="import_report"),
    path("history/", history_views.history_list, name="history_imports"),
    path("history/<int:history_id>/", history_views.history_detail, name="history"),
    path("history/<int:history_id>/errors.xlsx", history_views.history_errors_xlsx, name="history_errors"),
    path("history/<int:history_id>/<slug:action>/", history_views.history_action, name="history_action"),
    path("invitations/", views.invitations, name="invitations"),
    path("invitations/<slug:kind>.csv", views.invitations_export, name="invitations_export"),
]
