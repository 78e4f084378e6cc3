"""Reading a profile's YAML safely while keeping where every value was (for error messages).

Every message says where: ``line 7, arrival.users: 0 is less than the minimum of 1``. Anchors and
aliases are refused (they are how a small YAML document grows into a huge one), duplicate keys are
reported instead of silently keeping the last one, and the size and nesting are bounded before
PyYAML sees the text.
"""

from __future__ import annotations

from typing import Any

import yaml

from omni.loadtest.profiles.schema import MAX_FLOW_DEPTH, MAX_PROFILE_BYTES


class ProfileError(ValueError):
    """An invalid profile; ``messages`` holds one readable line per problem (with path and line)."""

    def __init__(self, messages: list[str]) -> None:
        self.messages = list(messages)
        super().__init__("invalid load profile:\n" + "\n".join(f"  {m}" for m in self.messages))


def field_path(path: list[Any]) -> str:
    """``["operations", 1, "weight"]`` -> ``operations[1].weight``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def line_of(root: yaml.Node | None, path: list[Any]) -> int | None:
    """The line (1-based) of the node at ``path``, or of its deepest existing ancestor."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            node = next((value for key, value in node.value if key.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
        else:
            node = None
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


class Problems:
    """The messages found so far, each located in the document."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.root = root
        self.messages: list[str] = []

    def add(self, path: list[Any], message: str) -> None:
        line = line_of(self.root, path)
        where = f"line {line}, " if line else ""
        self.messages.append(f"{where}{field_path(path)}: {message}")

    def raise_if_any(self) -> None:
        if self.messages:
            raise ProfileError(self.messages)


def _yaml_error(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}YAML syntax error: {problem}" + (f" ({context})" if context else "")


def _flow_depth(text: str) -> int:
    depth = deepest = 0
    quote = ""
    for char in text:
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth = max(depth - 1, 0)
    return deepest


def _aliases(text: str) -> list[str]:
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            return [f"line {event.start_mark.line + 1}: anchors and aliases (&name, *name) are not allowed"]
    return []


def _duplicate_keys(root: yaml.Node | None) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    pending = [root] if root is not None else []
    while pending:
        node = pending.pop()
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        line = key.start_mark.line + 1
                        found.append(
                            (line, f"line {line}: the key {key.value!r} appears twice in one mapping")
                        )
                    seen.add(key.value)
                pending.append(value)
        elif isinstance(node, yaml.SequenceNode):
            pending.extend(node.value)
    return sorted(found)


def load_yaml(text: str | bytes) -> tuple[Any, yaml.Node | None]:
    """The document's data and its node tree; ``ProfileError`` for anything unreadable."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ProfileError(["the profile is not UTF-8 text"]) from None
    if len(text.encode("utf-8")) > MAX_PROFILE_BYTES:
        raise ProfileError([f"the profile is larger than {MAX_PROFILE_BYTES // 1024} KiB"])
    if _flow_depth(text) > MAX_FLOW_DEPTH:
        raise ProfileError(
            [f"the profile is nested too deeply (more than {MAX_FLOW_DEPTH} levels of [ or {{)"]
        )
    try:
        aliases = _aliases(text)
        if aliases:
            raise ProfileError(aliases)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        duplicates = _duplicate_keys(root)
        if duplicates:
            raise ProfileError([message for _, message in duplicates])
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProfileError([_yaml_error(exc)]) from None
    except RecursionError:
        raise ProfileError(["the profile is nested too deeply"]) from None
    if data is None:
        raise ProfileError(["the profile is empty"])
    return data, root
