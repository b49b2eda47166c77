from django.urls import path

from siyu.console.views import coming_soon

app_name = "promotions"
urlpatterns = [path("", coming_soon, name="index")]
