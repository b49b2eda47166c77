"""Store design (店铺装修) in the console, under /store-design/."""

from django.urls import path

from siyu.storefront import design_views

app_name = "design"

urlpatterns = [
    path("", design_views.index, name="index"),
    path("open/", design_views.open_page, name="open"),
    path("pages/<int:page_id>/", design_views.page, name="page"),
    path("pages/<int:page_id>/rollback/", design_views.rollback, name="rollback"),
]
