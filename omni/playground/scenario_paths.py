"""Paths into JSON results and ``{{ … }}`` substitution for scenario files — no code is ever run.

Two small, closed grammars, both parsed with regular expressions and resolved by plain ``dict`` /
``list`` indexing (never ``getattr``, never ``eval``, never a template engine):

* a **JSONPath** subset for expectations and ``save``: ``$`` then any of ``.name``, ``['any key']``,
  ``[3]``, ``[-1]``, ``[*]`` / ``.*`` (every element or value). ``$.structuredContent.id``,
  ``$.content[0].text``, ``$.rows[*].region``.
* a **reference** inside ``{{ }}``: a variable name then the same segments, without ``$`` and without
  wildcards: ``{{ title }}``, ``{{ steps.create.result.structuredContent.id }}``.

A string that is exactly one ``{{ ref }}`` becomes the referenced value with its JSON type (a number
stays a number); references inside a longer string are inserted as text. Substitution is one pass:
a value that itself contains ``{{ … }}`` is inserted literally, never expanded again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

NAME = r"[A-Za-z_][A-Za-z0-9_-]*"
_SEGMENT_RE = re.compile(
    r"""
    \.(?P<name>[A-Za-z_][A-Za-z0-9_-]*)       # .name
  | \.(?P<dotstar>\*)                          # .*
  | \[\s*(?P<index>-?\d+)\s*\]                 # [3] [-1]
  | \[\s*(?P<star>\*)\s*\]                     # [*]
  | \[\s*'(?P<sq>(?:[^'\\]|\\.)*)'\s*\]        # ['key']
  | \[\s*"(?P<dq>(?:[^"\\]|\\.)*)"\s*\]        # ["key"]
    """,
    re.VERBOSE,
)
_REFERENCE_BODY = (
    rf"{NAME}(?:\.{NAME}|\[\s*-?\d+\s*\]|\[\s*'(?:[^'\\]|\\.)*'\s*\]|\[\s*\"(?:[^\"\\]|\\.)*\"\s*\])*"
)
TEMPLATE_RE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_WHOLE_TEMPLATE_RE = re.compile(r"\A\s*\{\{(.*?)\}\}\s*\Z", re.DOTALL)
_REFERENCE_RE = re.compile(rf"\A{_REFERENCE_BODY}\Z")
MAX_PATH_LENGTH = 500
WILDCARD = object()


class PathError(ValueError):
    """A path or reference that does not parse."""


class SubstitutionError(ValueError):
    """A ``{{ reference }}`` whose value does not exist (or is not usable where it stands)."""


@dataclass(frozen=True)
class Path:
    """A parsed path: ``segments`` are keys (str), indexes (int) or ``WILDCARD``."""

    text: str
    segments: tuple[Any, ...]

    @property
    def has_wildcard(self) -> bool:
        return any(segment is WILDCARD for segment in self.segments)


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _segments(text: str, start: int, original: str) -> tuple[Any, ...]:
    segments: list[Any] = []
    position = start
    while position < len(text):
        match = _SEGMENT_RE.match(text, position)
        if match is None:
            raise PathError(f"{original!r}: cannot read the path from {text[position:]!r}")
        if match["name"] is not None:
            segments.append(match["name"])
        elif match["index"] is not None:
            segments.append(int(match["index"]))
        elif match["star"] is not None or match["dotstar"] is not None:
            segments.append(WILDCARD)
        elif match["sq"] is not None:
            segments.append(_unescape(match["sq"]))
        else:
            segments.append(_unescape(match["dq"]))
        position = match.end()
    return tuple(segments)


def parse_jsonpath(text: object) -> Path:
    """Parse ``$…``; raises ``PathError`` with the reason."""
    if not isinstance(text, str) or not text.strip():
        raise PathError("a path must be a non-empty string starting with $")
    stripped = text.strip()
    if len(stripped) > MAX_PATH_LENGTH:
        raise PathError(f"a path may be at most {MAX_PATH_LENGTH} characters")
    if not stripped.startswith("$"):
        raise PathError(f"{stripped!r}: a path starts with $ (for example $.structuredContent.id)")
    return Path(stripped, _segments(stripped, 1, stripped))


def parse_reference(text: str) -> Path:
    """Parse the inside of ``{{ … }}``: ``name`` then ``.key`` / ``[0]`` / ``['key']`` segments."""
    stripped = text.strip()
    if len(stripped) > MAX_PATH_LENGTH or not _REFERENCE_RE.match(stripped):
        raise PathError(
            f"{{{{ {stripped} }}}} is not a reference: use a variable name, optionally followed by "
            ".key, [index] or ['key'] (for example {{ steps.create.result.structuredContent.id }})"
        )
    head = re.match(NAME, stripped)
    assert head is not None  # guaranteed by _REFERENCE_RE
    return Path(stripped, (head.group(), *_segments(stripped, head.end(), stripped)))


def _step(value: Any, segment: Any) -> Iterator[Any]:
    if segment is WILDCARD:
        if isinstance(value, Mapping):
            yield from value.values()
        elif isinstance(value, list):
            yield from value
    elif isinstance(segment, int):
        if isinstance(value, list) and -len(value) <= segment < len(value):
            yield value[segment]
    elif isinstance(value, Mapping) and segment in value:
        yield value[segment]


def find(document: Any, path: Path) -> list[Any]:
    """Every value at ``path`` in ``document`` (empty when there is none)."""
    current = [document]
    for segment in path.segments:
        current = [found for value in current for found in _step(value, segment)]
    return current


def resolve(path: Path, context: Mapping[str, Any]) -> Any:
    """The one value a reference names in ``context``; ``SubstitutionError`` when it is missing."""
    value: Any = context
    walked = ""
    for segment in path.segments:
        found = list(_step(value, segment))
        if not found:
            where = f" in {walked}" if walked else ""
            shown = f"[{segment}]" if isinstance(segment, int) else repr(segment)
            raise SubstitutionError(f"{{{{ {path.text} }}}}: there is no {shown}{where}")
        value = found[0]
        walked = (
            f"{walked}[{segment}]"
            if isinstance(segment, int)
            else (f"{walked}.{segment}" if walked else segment)
        )
    return value


def as_text(value: Any) -> str:
    """How a value is written inside a longer string: strings as they are, the rest as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def substitute(value: Any, context: Mapping[str, Any]) -> Any:
    """``value`` (any JSON) with every ``{{ reference }}`` in its strings replaced, keys included."""
    if isinstance(value, str):
        whole = _WHOLE_TEMPLATE_RE.match(value)
        if whole and "{{" not in whole.group(1):
            return resolve(parse_reference(whole.group(1)), context)
        return _substitute_text(value, context)
    if isinstance(value, list):
        return [substitute(item, context) for item in value]
    if isinstance(value, Mapping):
        return {_substitute_text(str(key), context): substitute(item, context) for key, item in value.items()}
    return value


def _substitute_text(text: str, context: Mapping[str, Any]) -> str:
    parsed = {match.group(1): parse_reference(match.group(1)) for match in TEMPLATE_RE.finditer(text)}
    return TEMPLATE_RE.sub(lambda m: as_text(resolve(parsed[m.group(1)], context)), text)


def references(value: Any) -> Iterator[Path]:
    """Every reference in the strings (and keys) of ``value``; ``PathError`` on a malformed one."""
    if isinstance(value, str):
        for match in TEMPLATE_RE.finditer(value):
            yield parse_reference(match.group(1))
    elif isinstance(value, list):
        for item in value:
            yield from references(item)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from references(key)
            yield from references(item)
