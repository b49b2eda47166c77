from django.urls import path

from siyu.console.views import coming_soon

app_name = "channels"
urlpatterns = [path("", coming_soon, name="index")]
