from django.urls import path

from siyu.catalog import views

app_name = "catalog"
urlpatterns = [
    path("", views.product_list, name="index"),
    path("products/new/", views.product_edit, name="product_new"),
    path("products/<int:product_id>/", views.product_edit, name="product_edit"),
    path("products/<int:product_id>/status/", views.product_status, name="product_status"),
    path("categories/", views.categories, name="categories"),
    path("categories/<int:category_id>/", views.category_change, name="category_change"),
    path("bundles/", views.bundle_list, name="bundles"),
    path("bundles/new/", views.bundle_edit, name="bundle_new"),
    path("bundles/<int:bundle_id>/", views.bundle_edit, name="bundle_edit"),
]
