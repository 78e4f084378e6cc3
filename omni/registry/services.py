"""The per-organization catalogue of the registry, and rendering of prompts and resource templates.

``effective_*`` apply the override rule: an organization's item replaces the global item with the
same key (name, or uri for resources). Each costs one query. For servers the rule applies before
the ``enabled`` filter, so an organization hides a global server by overriding it with a disabled
one of the same name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from omni.dbexec import run_db
from omni.registry.models import Prompt, RegistryItem, Resource, ResourceTemplate, ServerConnection
from omni.registry.templating import match_uri, substitute

if TYPE_CHECKING:
    from omni.tenants.context import OrgContext
    from omni.tenants.models import Organization

    OrgLike = OrgContext | Organization

Item = TypeVar("Item", bound=RegistryItem)


def apply_overrides(items: Iterable[Item]) -> list[Item]:
    """One item per key, the organization's winning over the global one; sorted by key."""
    chosen: dict[str, Item] = {}
    for item in items:
        key = item.override_key
        current = chosen.get(key)
        if current is None or (current.is_global and not item.is_global):
            chosen[key] = item
    return [chosen[key] for key in sorted(chosen)]


def _servers(items: Iterable[ServerConnection], enabled_only: bool) -> list[ServerConnection]:
    effective = apply_overrides(items)
    return [server for server in effective if server.enabled] if enabled_only else effective


# --------------------------------------------------------------------------- sync
def effective_prompts(org: OrgLike) -> list[Prompt]:
    return apply_overrides(Prompt.objects.for_org(org))


def effective_resources(org: OrgLike) -> list[Resource]:
    return apply_overrides(Resource.objects.for_org(org))


def effective_resource_templates(org: OrgLike) -> list[ResourceTemplate]:
    return apply_overrides(ResourceTemplate.objects.for_org(org))


def effective_servers(org: OrgLike, enabled_only: bool = True) -> list[ServerConnection]:
    return _servers(ServerConnection.objects.for_org(org), enabled_only)


def get_prompt(org: OrgLike, name: str) -> Prompt | None:
    """The prompt ``name`` that ``org`` sees (its own, else the global one)."""
    found = apply_overrides(Prompt.objects.for_org(org).filter(name=name))
    return found[0] if found else None


def get_resource(org: OrgLike, uri: str) -> Resource | None:
    """The resource ``uri`` that ``org`` sees (its own, else the global one)."""
    found = apply_overrides(Resource.objects.for_org(org).filter(uri=uri))
    return found[0] if found else None


# --------------------------------------------------------------------------- async
# Off the event loop through ``omni.dbexec.run_db``: on a pooled PostgreSQL each runs beside other
# requests' database work, not queued behind it on Django's one thread.
async def aeffective_prompts(org: OrgLike) -> list[Prompt]:
    return await run_db(effective_prompts, org)


async def aeffective_resources(org: OrgLike) -> list[Resource]:
    return await run_db(effective_resources, org)


async def aeffective_resource_templates(org: OrgLike) -> list[ResourceTemplate]:
    return await run_db(effective_resource_templates, org)


async def aeffective_servers(org: OrgLike, enabled_only: bool = True) -> list[ServerConnection]:
    return await run_db(effective_servers, org, enabled_only)


async def aget_prompt(org: OrgLike, name: str) -> Prompt | None:
    return await run_db(get_prompt, org, name)


async def aget_resource(org: OrgLike, uri: str) -> Resource | None:
    return await run_db(get_resource, org, uri)


# --------------------------------------------------------------------------- rendering
class PromptArgumentError(ValueError):
    """The arguments given to a prompt do not fit its declared arguments."""


def _as_text(name: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value).lower() if isinstance(value, bool) else str(value)
    raise PromptArgumentError(f"argument {name!r} must be a string, not {type(value).__name__}")


def render_prompt(prompt: Prompt, arguments: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """The prompt's messages as ``[{"role": ..., "text": ...}]`` with the arguments filled in.

    Raises ``PromptArgumentError`` for a missing required argument or an argument the prompt does
    not declare. An optional argument that is not given renders as an empty string.
    """
    given = {name: value for name, value in (arguments or {}).items() if value is not None}
    declared = {arg["name"]: bool(arg.get("required", False)) for arg in prompt.arguments}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        allowed = ", ".join(declared) or "none"
        raise PromptArgumentError(
            f"prompt {prompt.name!r} has no argument(s) {', '.join(map(repr, unknown))} (allowed: {allowed})"
        )
    missing = [name for name, required in declared.items() if required and name not in given]
    if missing:
        raise PromptArgumentError(
            f"prompt {prompt.name!r} needs the argument(s) {', '.join(map(repr, missing))}"
        )
    values = {name: "" for name in declared}
    values.update({name: _as_text(name, value) for name, value in given.items()})
    return [{"role": msg["role"], "text": substitute(msg["content"], values)} for msg in prompt.messages]


def match_resource_template(template: ResourceTemplate, uri: str) -> dict[str, str] | None:
    """The URI variables if ``uri`` is one of ``template``'s resources, else None."""
    return match_uri(template.uri_template, uri)


def render_resource_template(template: ResourceTemplate, variables: Mapping[str, str]) -> str:
    """The content of ``template`` for these URI variables (``{variable}`` in ``text_template``)."""
    values = {name: str(variables.get(name, "")) for name in template.variables()}
    return substitute(template.text_template, values)


def find_resource_template(
    templates: Iterable[ResourceTemplate], uri: str
) -> tuple[ResourceTemplate, dict[str, str]] | None:
    """The first template (in the given order) that matches ``uri``, with its variables."""
    for template in templates:
        variables = match_resource_template(template, uri)
        if variables is not None:
            return template, variables
    return None
