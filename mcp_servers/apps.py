from django.apps import AppConfig


class McpServersConfig(AppConfig):
    """The built-in MCP servers keep their data (notes, datasets) in the project's database."""

    name = "mcp_servers"
    label = "mcp_servers"
    verbose_name = "Built-in MCP servers"
    default_auto_field = "django.db.models.BigAutoField"
