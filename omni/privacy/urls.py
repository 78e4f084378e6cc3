from django.urls import include, path

app_name = "privacy"

urlpatterns: list = [
    path("", include("omni.privacy.urls_crypto")),
]
