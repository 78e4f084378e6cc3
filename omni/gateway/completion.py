"""``completion/complete``: argument suggestions for prompts and resource templates.

* A database prompt: the values its admins declared for the argument (``"values"`` in the
  prompt's ``arguments``), those starting with what the caller typed.
* A database resource template: the values of the variable in the organization's known URIs that
  the template matches (its resources, its servers' listed resources).
* A downstream prompt (``server__prompt``) or resource template: asked of its server, in the
  server's own names.

Access rules apply as for the prompt or template itself: a hidden one is unknown.
"""

from __future__ import annotations

from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

from omni.gateway import downstream
from omni.gateway.catalogue import Catalogue
from omni.registry import services as registry
from omni.tenants.context import OrgContext

MAX_VALUES = 100  # the protocol's limit per answer


def _answer(values: list[str], typed: str) -> types.CompleteResult:
    matching = sorted({v for v in values if isinstance(v, str) and v.startswith(typed)})
    return types.CompleteResult(
        completion=types.Completion(
            values=matching[:MAX_VALUES], total=len(matching), has_more=len(matching) > MAX_VALUES
        )
    )


def _declared_values(prompt: Any, argument: str) -> list[str] | None:
    """The declared values of the prompt's argument (None: no such argument)."""
    for declared in prompt.arguments or []:
        if isinstance(declared, dict) and declared.get("name") == argument:
            return list(declared.get("values") or [])
    return None


def _template_values(org_ctx: OrgContext, catalogue: Catalogue, template: Any, variable: str) -> list[str]:
    uris = [*catalogue.resources, *catalogue.resource_routes]
    values = []
    for uri in uris:
        if not catalogue.allows(org_ctx, "resource", uri):
            continue
        found = registry.match_resource_template(template, uri)
        if found is not None and variable in found:
            values.append(found[variable])
    return values


async def complete(ctx: ServerRequestContext[Any, Any], params: types.CompleteRequestParams):
    from omni.gateway.catalogue import get_catalogue
    from omni.gateway.server import _denied, _downstream_error, _org_context, _require_scope

    org_ctx = _org_context(ctx)
    catalogue = await get_catalogue(org_ctx.organization)
    ref, argument = params.ref, params.argument
    typed = argument.value or ""
    if isinstance(ref, types.PromptReference):
        _require_scope(org_ctx, "prompts:read")
        prompt = catalogue.prompts.get(ref.name)
        route = catalogue.prompt_routes.get(ref.name)
        if (prompt is not None or route is not None) and not catalogue.allows(org_ctx, "prompt", ref.name):
            _denied(org_ctx, "prompt", ref.name)
            prompt = route = None
        if prompt is not None:
            values = _declared_values(prompt, argument.name)
            if values is None:
                raise MCPError(
                    code=INVALID_PARAMS,
                    message=f"prompt {ref.name} has no argument {argument.name!r}",
                    data={"prompt": ref.name},
                )
            return _answer(values, typed)
        if route is None:
            raise MCPError(
                code=INVALID_PARAMS, message=f"Unknown prompt: {ref.name}", data={"prompt": ref.name}
            )
        target, own_ref = route.target, types.PromptReference(name=route.original_name)
    else:
        _require_scope(org_ctx, "resources:read")
        uri_template = ref.uri
        if not catalogue.allows(org_ctx, "resource", uri_template):
            _denied(org_ctx, "resource", uri_template)
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown resource template: {uri_template}")
        template = next((t for t in catalogue.templates if t.uri_template == uri_template), None)
        if template is not None:
            if argument.name not in template.variables():
                raise MCPError(code=INVALID_PARAMS, message=f"the template has no variable {argument.name!r}")
            return _answer(_template_values(org_ctx, catalogue, template, argument.name), typed)
        template_route = next(
            (r for r in catalogue.template_routes.values() if r.template.uri_template == uri_template), None
        )
        if template_route is None:
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown resource template: {uri_template}")
        target, own_ref = template_route.target, types.ResourceTemplateReference(uri=uri_template)
    try:
        result = await downstream.complete(target, own_ref, argument, params.context, org_ctx.org_slug)
    except downstream.DownstreamError as exc:
        raise _downstream_error(exc) from None
    values = result.completion.values[:MAX_VALUES]
    return types.CompleteResult(
        completion=types.Completion(
            values=values, total=result.completion.total, has_more=result.completion.has_more
        )
    )
