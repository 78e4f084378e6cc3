"""A stdio MCP server for the resource, logging and completion tests (issue 11), written with the
SDK's low-level ``Server`` and speaking only the handshake revisions (``serve_loop``: it does not
answer ``server/discover``), so ``resources/subscribe`` and ``logging/setLevel`` are in its protocol.

* resources: ``files://listed/readme`` (listed), the template ``files://{name}/content`` and any
  ``secret://…`` URI (neither listed nor templated: its tool ``make_link`` hands them out);
* tools: ``make_link`` (a ``resource_link`` to ``secret://<name>``), ``touch`` (tells every session
  subscribed to a URI that it changed), ``chatty`` (one log message per level), ``subscribers``;
* a prompt ``pick`` whose ``flavor`` argument, and the template's ``name`` variable, complete.
"""

from __future__ import annotations

from typing import Any

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.runner import serve_loop
from mcp.server.stdio import stdio_server

FLAVORS = ["cherry", "chocolate", "vanilla"]
NAMES = ["alpha", "beta", "gamma"]
LEVELS = ["debug", "info", "warning", "error"]

# uri -> the sessions subscribed to it
subscribed: dict[str, list[Any]] = {}


def _text(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)])


async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "uri": {"type": "string"}}}
    return types.ListToolsResult(
        tools=[
            types.Tool(name="make_link", description="A link to secret://<name>", input_schema=schema),
            types.Tool(name="touch", description="Announce that <uri> changed", input_schema=schema),
            types.Tool(name="chatty", description="One log message per level", input_schema=schema),
            types.Tool(name="subscribers", description="How many sessions watch <uri>", input_schema=schema),
        ]
    )


async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
    arguments = params.arguments or {}
    if params.name == "make_link":
        uri = f"secret://{arguments['name']}"
        return types.CallToolResult(
            content=[types.ResourceLink(type="resource_link", uri=uri, name=arguments["name"])]
        )
    if params.name == "touch":
        uri = arguments["uri"]
        for session in subscribed.get(uri, []):
            await session.send_resource_updated(uri)
        return _text(f"touched {uri} for {len(subscribed.get(uri, []))}")
    if params.name == "subscribers":
        return _text(str(len(subscribed.get(arguments["uri"], []))))
    if params.name == "chatty":
        for level in LEVELS:
            await ctx.session.send_log_message(
                level, f"{level} line", "resources", related_request_id=ctx.request_id
            )
        return _text("said it")
    raise ValueError(f"unknown tool {params.name}")


async def list_resources(ctx: Any, params: Any) -> types.ListResourcesResult:
    return types.ListResourcesResult(
        resources=[types.Resource(uri="files://listed/readme", name="readme", mime_type="text/plain")]
    )


async def list_templates(ctx: Any, params: Any) -> types.ListResourceTemplatesResult:
    return types.ListResourceTemplatesResult(
        resource_templates=[
            types.ResourceTemplate(uri_template="files://{name}/content", name="file", mime_type="text/plain")
        ]
    )


async def read_resource(ctx: Any, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
    uri = str(params.uri)
    if uri == "files://listed/readme":
        text = "the listed readme"
    elif uri.startswith("files://") and uri.endswith("/content"):
        text = f"content of {uri[len('files://') : -len('/content')]}"
    elif uri.startswith("secret://"):
        text = f"linked {uri[len('secret://') :]}"
    else:
        raise ValueError(f"no resource {uri}")
    return types.ReadResourceResult(contents=[types.TextResourceContents(uri=uri, text=text)])


async def subscribe(ctx: Any, params: types.SubscribeRequestParams) -> types.EmptyResult:
    subscribed.setdefault(str(params.uri), []).append(ctx.session)
    return types.EmptyResult()


async def unsubscribe(ctx: Any, params: types.UnsubscribeRequestParams) -> types.EmptyResult:
    # A request's session object is new per request; its connection is the downstream session.
    sessions = subscribed.get(str(params.uri), [])
    sessions[:] = [s for s in sessions if s._connection is not ctx.session._connection]
    return types.EmptyResult()


async def list_prompts(ctx: Any, params: Any) -> types.ListPromptsResult:
    return types.ListPromptsResult(
        prompts=[types.Prompt(name="pick", arguments=[types.PromptArgument(name="flavor", required=True)])]
    )


async def get_prompt(ctx: Any, params: types.GetPromptRequestParams) -> types.GetPromptResult:
    flavor = (params.arguments or {}).get("flavor", "")
    return types.GetPromptResult(
        messages=[
            types.PromptMessage(role="user", content=types.TextContent(type="text", text=f"I pick {flavor}"))
        ]
    )


async def complete(ctx: Any, params: types.CompleteRequestParams) -> types.CompleteResult:
    if isinstance(params.ref, types.PromptReference) and params.ref.name == "pick":
        options = FLAVORS
    elif (
        isinstance(params.ref, types.ResourceTemplateReference) and params.ref.uri == "files://{name}/content"
    ):
        options = NAMES
    else:
        options = []
    values = [v for v in options if v.startswith(params.argument.value)]
    return types.CompleteResult(completion=types.Completion(values=values, total=len(values)))


async def set_level(ctx: Any, params: types.SetLevelRequestParams) -> types.EmptyResult:
    return types.EmptyResult()


def build() -> Server:
    server = Server(
        "resources",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_templates,
        on_read_resource=read_resource,
        on_subscribe_resource=subscribe,
        on_unsubscribe_resource=unsubscribe,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
        on_completion=complete,
        on_set_logging_level=set_level,
    )
    return server


async def main() -> None:
    server = build()
    async with stdio_server() as (read_stream, write_stream):
        # The handshake-only loop: server/discover is "Method not found", as from a 2025 server.
        await serve_loop(
            server,
            read_stream,
            write_stream,
            lifespan_state={},
            init_options=server.create_initialization_options(),
        )


if __name__ == "__main__":
    anyio.run(main)
