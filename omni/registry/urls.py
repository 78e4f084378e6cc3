"""Registry UI: MCP servers, prompts and resources of an organization (``/o/<slug>/...``)."""

app_name = "registry"

urlpatterns: list = []
