from django.urls import include, path

# Namespace "privacy": the encryption page, /account/, the data-subject request registers, downloads.
_namespaced = [
    path("", include("omni.privacy.urls_crypto")),
    path("", include("omni.privacy.urls_subjects")),
]

urlpatterns = [
    # /o/<slug>/privacy/: retention periods, legal hold, cleanup runs (names without a namespace).
    path("", include("omni.privacy.urls_retention")),
    path("", include((_namespaced, "privacy"))),
]
