"""Resource access control: which tools, prompts and resources a caller may see and use.

The rules are ``AccessRule`` rows of the organization (``access_models.py``). Semantics, in short
(the long form is in ``docs/permissions.md``):

* a rule applies to a caller by **role** (API keys act with the ``member`` role, so member rules
  apply to keys too) or by **API key**;
* the applicable rules are checked by ascending ``priority``; at equal priority ``deny`` comes
  first, then the older rule; the **first** rule whose ``kind`` matches and whose glob ``pattern``
  matches the exposed name (``server__tool``, a prompt name, a resource URI) **decides**;
* **no matching rule: allowed** (an organization without rules sees everything). A catch-all
  ``deny *`` with a higher priority number than some ``allow`` rules makes an allow-list.

Resource URIs are checked **canonically**: a URI has many spellings (``notes://%73ecret/summary``
is ``notes://secret/summary``), and a resource template decodes its variables before it renders.
So a resource is allowed only when every spelling is: the URI as written, its RFC 3986 normal form
(``normalize_uri``: escaped unreserved characters decoded, other escapes upper-cased, the scheme
lower-cased) and, for each resource template that matches it, the template's expansion of the
decoded variables (``uri_spellings``). Deny wins over any spelling. Rule patterns of kind
``resource`` are normalised the same way when compiled.

For the gateway: ``rules = await aload_rules(org)`` once per catalogue build (cache it with the
catalogue: saving a rule invalidates it), then ``rules.allows(ctx, "tool", name)`` per item (for a
resource read, every one of ``uri_spellings(uri, templates)``). For views:
``visible(ctx, kind, names)`` and ``allowed(ctx, kind, name)`` load the rules once per call.
"""

from __future__ import annotations

import fnmatch
import re
import string
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.http import Http404

from omni.dbexec import run_db
from omni.registry.access_models import AccessRule
from omni.registry.templating import UriTemplateError, expand_uri, match_uri
from omni.tenants.context import OrgContext
from omni.tenants.models import ApiKey, Organization
from omni.tenants.permissions import ORG_MANAGE, require

KINDS = frozenset(AccessRule.Kind.values)
# Managing the rules of an organization: owners and admins.
MANAGE_CAPABILITY = ORG_MANAGE


@dataclass(frozen=True)
class CompiledRule:
    subject_type: str
    role: str
    api_key_id: uuid.UUID | None
    kind: str
    pattern: str
    effect: str
    priority: int
    regex: re.Pattern[str]

    def applies_to(self, ctx: OrgContext) -> bool:
        if self.subject_type == AccessRule.SubjectType.API_KEY:
            return ctx.api_key is not None and ctx.api_key.pk == self.api_key_id
        return self.role == ctx.role

    def matches(self, kind: str, name: str) -> bool:
        return self.kind == kind and self.regex.match(name) is not None


RESOURCE = AccessRule.Kind.RESOURCE
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


def normalize_uri(uri: str) -> str:
    """The RFC 3986 (6.2.2) normal form: percent-escapes of unreserved characters decoded
    (``%73`` → ``s``), the other escapes upper-cased (``%2f`` → ``%2F``), the scheme lower-cased."""

    def unescape(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else "%" + match.group(1).upper()

    text = _ESCAPE.sub(unescape, uri)
    return _SCHEME.sub(lambda m: m.group(1).lower() + ":", text, count=1)


def uri_spellings(uri: str, uri_templates: Iterable[str] = ()) -> list[str]:
    """Every spelling of ``uri`` that access rules must allow: as written, normalised, and each
    matching template's expansion of the decoded variables (what the template will render)."""
    spellings = {uri: None, normalize_uri(uri): None}
    for template in uri_templates:
        try:
            variables = match_uri(template, uri)
            if variables is not None:
                expanded = expand_uri(template, variables)
                spellings.setdefault(expanded)
                spellings.setdefault(normalize_uri(expanded))
        except UriTemplateError:
            continue
    return list(spellings)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(sorted(KINDS))}")


@dataclass(frozen=True)
class RuleSet:
    """The compiled rules of one organization, in evaluation order."""

    org_id: int | None
    rules: tuple[CompiledRule, ...] = ()

    def for_context(self, ctx: OrgContext) -> tuple[CompiledRule, ...]:
        """The rules that apply to ``ctx`` (still in evaluation order)."""
        if ctx.org_id != self.org_id:
            raise ValueError("these rules belong to another organization")
        return tuple(rule for rule in self.rules if rule.applies_to(ctx))

    @staticmethod
    def _decide(rules: tuple[CompiledRule, ...], kind: str, name: str) -> bool:
        for rule in rules:
            if rule.matches(kind, name):
                return rule.effect == AccessRule.Effect.ALLOW
        return True

    @classmethod
    def _decide_all(cls, rules: tuple[CompiledRule, ...], kind: str, name: str) -> bool:
        """A resource URI as written and normalised must both be allowed (deny wins)."""
        if kind != RESOURCE:
            return cls._decide(rules, kind, name)
        return all(cls._decide(rules, kind, spelling) for spelling in {name, normalize_uri(name)})

    def allows(self, ctx: OrgContext, kind: str, name: str) -> bool:
        """Whether ``ctx`` may see and use the ``kind`` item exposed as ``name``."""
        _check_kind(kind)
        if not self.rules:
            return True
        return self._decide_all(self.for_context(ctx), kind, name)

    def allows_uri(self, ctx: OrgContext, uri: str, uri_templates: Iterable[str] = ()) -> bool:
        """Whether ``ctx`` may read ``uri``: every spelling (``uri_spellings``) must be allowed."""
        return all(self.allows(ctx, RESOURCE, spelling) for spelling in uri_spellings(uri, uri_templates))

    def visible(self, ctx: OrgContext, kind: str, names: Iterable[str]) -> set[str]:
        """The subset of ``names`` that ``ctx`` may see."""
        _check_kind(kind)
        names = set(names)
        if not self.rules:
            return names
        rules = tuple(rule for rule in self.for_context(ctx) if rule.kind == kind)
        return {name for name in names if self._decide_all(rules, kind, name)}


def _effect_order(effect: str) -> int:
    return 0 if effect == AccessRule.Effect.DENY else 1


def _pattern(row: AccessRule) -> str:
    return normalize_uri(row.pattern) if row.kind == RESOURCE else row.pattern


def compile_rules(org_id: int | None, rows: Iterable[AccessRule]) -> RuleSet:
    rows = sorted(rows, key=lambda r: (r.priority, _effect_order(r.effect), r.created_at, r.pk))
    compiled = tuple(
        CompiledRule(
            subject_type=row.subject_type,
            role=row.role,
            api_key_id=row.api_key_id,
            kind=row.kind,
            pattern=row.pattern,
            effect=row.effect,
            priority=row.priority,
            regex=re.compile(fnmatch.translate(_pattern(row))),
        )
        for row in rows
    )
    return RuleSet(org_id=org_id, rules=compiled)


def _org_of(ctx_or_org: OrgContext | Organization) -> Organization:
    return ctx_or_org.organization if isinstance(ctx_or_org, OrgContext) else ctx_or_org


def load_rules(org: OrgContext | Organization) -> RuleSet:
    """The organization's rules, compiled (one query)."""
    organization = _org_of(org)
    return compile_rules(organization.pk, AccessRule.objects.for_org(organization))


async def aload_rules(org: OrgContext | Organization) -> RuleSet:
    """``load_rules`` off the event loop (``omni.dbexec.run_db``; for the gateway: cache the result
    with the catalogue)."""
    return await run_db(load_rules, org)


def visible(ctx: OrgContext, kind: str, names: Iterable[str]) -> set[str]:
    """The subset of ``names`` (exposed names of ``kind``) that ``ctx`` may see."""
    return load_rules(ctx).visible(ctx, kind, names)


def allowed(ctx: OrgContext, kind: str, name: str) -> bool:
    """Whether ``ctx`` may see and use the ``kind`` item exposed as ``name``."""
    return load_rules(ctx).allows(ctx, kind, name)


# --------------------------------------------------------------------------- managing rules
def list_rules(ctx: OrgContext) -> list[AccessRule]:
    """The organization's rules in evaluation order (owners and admins only)."""
    require(ctx, MANAGE_CAPABILITY)
    rows = AccessRule.objects.for_org(ctx).select_related("api_key")
    return sorted(rows, key=lambda r: (r.priority, _effect_order(r.effect), r.created_at, r.pk))


def key_choices(ctx: OrgContext) -> list[ApiKey]:
    """The organization's API keys a rule can name (revoked ones included: a rule may outlive use)."""
    require(ctx, MANAGE_CAPABILITY)
    return list(ApiKey.objects.for_org(ctx).order_by("name"))


def create_rule(ctx: OrgContext, *, user: Any = None, **fields: Any) -> AccessRule:
    """Validate and save a rule in ``ctx``'s organization (``ValidationError`` on bad input)."""
    require(ctx, MANAGE_CAPABILITY)
    api_key = fields.get("api_key")
    if api_key is not None and api_key.organization_id != ctx.org_id:
        raise Http404("No such API key.")
    rule = AccessRule(organization=ctx.organization, created_by=user, **fields)
    rule.full_clean()
    rule.save()
    _record("access.rule_created", ctx, rule)
    return rule


def delete_rule(ctx: OrgContext, rule_uuid: uuid.UUID | str) -> None:
    """Delete one of the organization's rules; 404 for a rule of another organization."""
    require(ctx, MANAGE_CAPABILITY)
    rule = AccessRule.objects.for_org(ctx).filter(uuid=rule_uuid).select_related("api_key").first()
    if rule is None:
        raise Http404("No such access rule.")
    rule.delete()
    _record("access.rule_deleted", ctx, rule)


def _record(action: str, ctx: OrgContext, rule: AccessRule) -> None:
    from omni.security.audit import record_event

    record_event(
        action,
        ctx=ctx,
        target_type="registry.accessrule",
        target_id=str(rule.uuid),
        details={
            "subject": rule.subject_label,
            "kind": rule.kind,
            "pattern": rule.pattern,
            "effect": rule.effect,
            "priority": rule.priority,
        },
    )
