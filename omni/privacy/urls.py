from django.urls import include, path  # noqa: F401

app_name = "privacy"

urlpatterns: list = []
urlpatterns += [path("", include("omni.privacy.urls_subjects"))]
