"""OpenAPI (drf-spectacular): our ``JWTAuthentication`` is a bearer JWT scheme like simplejwt's."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class OmniJWTScheme(SimpleJWTScheme):
    target_class = "omni.tenants.auth.authentication.JWTAuthentication"
    name = "jwtAuth"
