from django.urls import include, path

urlpatterns = [
    # /o/<slug>/privacy/: retention periods, legal hold, cleanup runs (names without a namespace).
    path("", include("omni.privacy.urls_retention")),
    # /account/, the data-subject request registers and downloads (namespace "privacy").
    path("", include(("omni.privacy.urls_subjects", "privacy"))),
]
