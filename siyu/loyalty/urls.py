from django.urls import path

from siyu.loyalty import views

app_name = "loyalty"
urlpatterns = [
    path("customers/<int:customer_id>/points/<str:action>/", views.points_action, name="points_action"),
]
