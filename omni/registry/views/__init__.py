"""Web UI views of the registry: MCP servers, prompts and resources of an organization."""
