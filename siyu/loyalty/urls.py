from django.urls import path

from siyu.loyalty import views

app_name = "loyalty"
urlpatterns = [
    path("rules/", views.rules, name="rules"),
    path("rewards/", views.rewards, name="rewards"),
    path("membership/", views.membership, name="membership"),
    path("customers/<int:customer_id>/points/redeem/", views.redeem, name="redeem"),
    path("customers/<int:customer_id>/points/adjust/", views.adjust, name="adjust"),
]
