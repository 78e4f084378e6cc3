"""Web UI views of the tenants app: login, the organization pages, members and API keys."""
