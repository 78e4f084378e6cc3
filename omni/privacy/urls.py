from django.urls import include, path

urlpatterns: list = []
urlpatterns.append(path("", include("omni.privacy.urls_retention")))
