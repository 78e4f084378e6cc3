"""Safe text templates (``{name}`` placeholders) and RFC 6570 URI templates (levels 1 and 2).

Prompt messages and resource templates are written by organization admins (URI templates also come
from downstream servers), so they are never fed to ``str.format``, and a URI template is matched on
RE2 (linear time), never on Python's ``re``. A placeholder is a bare name and nothing else:
``{x.__class__}``, ``{x[0]}`` and ``{x!r}`` are not placeholders and stay in the text as
written. ``{{`` and ``}}`` are literal braces.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote, unquote

import re2

NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_-]*"
_TEXT_TOKEN = re.compile(r"\{\{|\}\}|\{(" + NAME_PATTERN + r")\}")


def placeholders(template: str) -> list[str]:
    """The placeholder names of ``template``, in order of first use."""
    seen: dict[str, None] = {}
    for match in _TEXT_TOKEN.finditer(template):
        if match.group(1):
            seen.setdefault(match.group(1))
    return list(seen)


def substitute(template: str, values: Mapping[str, str]) -> str:
    """Replace ``{name}`` by ``values[name]``; a name not in ``values`` stays as written."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:  # "{{" or "}}"
            return match.group(0)[0]
        return str(values[name]) if name in values else match.group(0)

    return _TEXT_TOKEN.sub(replace, template)


# --------------------------------------------------------------------------- URI templates
# Level 1: {var}; level 2: {+var} (reserved) and {#var} (fragment). One variable per expression.
_URI_EXPRESSION = re.compile(r"\{([+#]?)([A-Za-z0-9_]+)\}")
_URI_ANY_EXPRESSION = re.compile(r"\{[^{}]*\}")


class UriTemplateError(ValueError):
    """A URI template outside what is supported (RFC 6570 levels 1 and 2, one variable each)."""


def uri_variables(uri_template: str) -> list[str]:
    """The variable names of ``uri_template``; raises ``UriTemplateError`` for unsupported syntax."""
    names: list[str] = []
    position = 0
    for match in _URI_ANY_EXPRESSION.finditer(uri_template):
        if "{" in uri_template[position : match.start()] or "}" in uri_template[position : match.start()]:
            raise UriTemplateError(f"unbalanced brace in {uri_template!r}")
        expression = _URI_EXPRESSION.fullmatch(match.group(0))
        if expression is None:
            raise UriTemplateError(
                f"unsupported expression {match.group(0)!r}: use {{name}}, {{+name}} or {{#name}}"
            )
        if expression.group(2) in names:
            raise UriTemplateError(f"variable {expression.group(2)!r} appears twice")
        names.append(expression.group(2))
        position = match.end()
    rest = uri_template[position:]
    if "{" in rest or "}" in rest:
        raise UriTemplateError(f"unbalanced brace in {uri_template!r}")
    return names


MAX_URI_TEMPLATE_LENGTH = 1000
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.max_mem = 1 << 20


@lru_cache(maxsize=1024)
def compile_uri_template(uri_template: str) -> Any:
    """An RE2 pattern that matches the URIs ``uri_template`` expands to, one named group per
    variable (the literal parts escaped: a template cannot smuggle a pattern in)."""
    if len(uri_template) > MAX_URI_TEMPLATE_LENGTH:
        raise UriTemplateError(f"a URI template is at most {MAX_URI_TEMPLATE_LENGTH} characters")
    uri_variables(uri_template)  # validates
    parts: list[str] = []
    position = 0
    for match in _URI_EXPRESSION.finditer(uri_template):
        parts.append(re.escape(uri_template[position : match.start()]))
        operator, name = match.groups()
        if operator == "":
            parts.append(f"(?P<{name}>[^/?#]+)")  # simple expansion: no reserved characters
        elif operator == "+":
            parts.append(f"(?P<{name}>[^#]+?)")  # reserved expansion: may contain "/" and "?"
        else:
            parts.append(f"#(?P<{name}>.+?)")  # fragment expansion
        position = match.end()
    parts.append(re.escape(uri_template[position:]))
    try:
        return re2.compile("".join(parts), _RE2_OPTIONS)
    except re2.error as exc:
        raise UriTemplateError(f"URI template not matchable: {exc}") from None


def match_uri(uri_template: str, uri: str) -> dict[str, str] | None:
    """The (percent-decoded) variables if ``uri`` matches ``uri_template``, else None."""
    match = compile_uri_template(uri_template).fullmatch(uri)
    if match is None:
        return None
    return {name: unquote(value) for name, value in match.groupdict().items()}


def expand_uri(uri_template: str, variables: Mapping[str, str]) -> str:
    """Expand ``uri_template`` with ``variables`` (missing variables expand to nothing)."""
    uri_variables(uri_template)  # validates

    def replace(match: re.Match[str]) -> str:
        operator, name = match.groups()
        value = variables.get(name)
        if value is None:
            return ""
        if operator == "":
            return quote(str(value), safe="")
        encoded = quote(str(value), safe=":/?#[]@!$&'()*+,;=%")
        return encoded if operator == "+" else "#" + encoded

    return _URI_EXPRESSION.sub(replace, uri_template)
