"""Validators of the registry's names and JSON fields (used by the models' ``clean()``)."""

from __future__ import annotations

import importlib
import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

from omni.registry.templating import NAME_PATTERN
from omni.security.egress import EgressDenied, check_url

validate_item_name = RegexValidator(
    r"^[a-zA-Z0-9_.-]+\Z", "Use only letters, digits, '_', '.' and '-'.", code="invalid_name"
)
# A server name becomes the tool namespace (``knowledge__search_notes``): lowercase words joined by
# single '-' or '_', so the first '__' of a namespaced tool name always ends the server name.
validate_server_name = RegexValidator(
    r"^[a-z0-9]+(?:[-_][a-z0-9]+)*\Z",
    "Use lowercase letters and digits, words joined by a single '-' or '_' (no '__').",
    code="invalid_server_name",
)
validate_uri = RegexValidator(
    r"^[A-Za-z][A-Za-z0-9+.-]*:\S+\Z", "Enter a URI with a scheme, e.g. docs://guide.", code="invalid_uri"
)
validate_mime_type = RegexValidator(
    r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*(?:\s*;.*)?\Z",
    "Enter a MIME type such as text/markdown.",
    code="invalid_mime_type",
)
_ARGUMENT_NAME = re.compile(NAME_PATTERN + r"\Z")
MESSAGE_ROLES = ("user", "assistant")


MAX_ARGUMENT_VALUES = 100
MAX_ARGUMENT_VALUE_LENGTH = 200


def validate_prompt_arguments(value: object) -> None:
    """A list of ``{"name": str, "description": str, "required": bool, "values": [str]}`` with
    unique names; ``values`` (optional) are the suggestions ``completion/complete`` offers."""
    if not isinstance(value, list):
        raise ValidationError("Arguments must be a list.")
    seen: set[str] = set()
    for index, item in enumerate(value):
        where = f"Argument {index + 1}"
        if not isinstance(item, dict):
            raise ValidationError(f"{where} must be an object.")
        extra = set(item) - {"name", "description", "required", "values"}
        if extra:
            raise ValidationError(f"{where} has unknown key(s): {', '.join(sorted(extra))}.")
        name = item.get("name")
        if not isinstance(name, str) or not _ARGUMENT_NAME.match(name):
            raise ValidationError(
                f"{where}: the name must be a letter or '_' then letters, digits, '_', '-'."
            )
        if name in seen:
            raise ValidationError(f"{where}: the name {name!r} is used twice.")
        seen.add(name)
        if not isinstance(item.get("description", ""), str):
            raise ValidationError(f"{where}: the description must be text.")
        if not isinstance(item.get("required", False), bool):
            raise ValidationError(f"{where}: 'required' must be true or false.")
        values = item.get("values", [])
        if (
            not isinstance(values, list)
            or len(values) > MAX_ARGUMENT_VALUES
            or not all(isinstance(x, str) and 0 < len(x) <= MAX_ARGUMENT_VALUE_LENGTH for x in values)
        ):
            raise ValidationError(
                f"{where}: 'values' must be a list of at most {MAX_ARGUMENT_VALUES} texts of 1 to "
                f"{MAX_ARGUMENT_VALUE_LENGTH} characters."
            )


def validate_prompt_messages(value: object) -> None:
    """A non-empty list of ``{"role": "user"|"assistant", "content": str}``."""
    if not isinstance(value, list) or not value:
        raise ValidationError("Messages must be a non-empty list.")
    for index, item in enumerate(value):
        where = f"Message {index + 1}"
        if not isinstance(item, dict) or set(item) != {"role", "content"}:
            raise ValidationError(f"{where} must be an object with exactly 'role' and 'content'.")
        if item["role"] not in MESSAGE_ROLES:
            raise ValidationError(f"{where}: the role must be 'user' or 'assistant'.")
        if not isinstance(item["content"], str) or not item["content"]:
            raise ValidationError(f"{where}: the content must be non-empty text.")


def validate_string_list(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError("Enter a list of strings.")


def validate_string_dict(value: object) -> None:
    if not isinstance(value, dict) or not all(
        isinstance(key, str) and isinstance(item, str) for key, item in value.items()
    ):
        raise ValidationError("Enter an object mapping names to string values.")


URI_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def validate_egress_url(url: str) -> None:
    """The egress policy at save time (organizations' servers): a URL whose host is or resolves to
    a loopback, private, link-local… address is refused unless ``MCP_EGRESS_ALLOW`` opens it."""
    try:
        check_url(url)
    except EgressDenied as exc:
        raise ValidationError(f"Refused: {exc}.", code="egress_denied") from None


def inprocess_option_errors(target: str, args: object) -> list[str]:
    """What is wrong with ``args`` as the options of the built-in server ``target`` ([] if nothing).

    A built-in server takes options when the module of its factory (``MCP_INPROCESS_SERVERS``) has
    ``validate_options(args) -> list[str]``; the others take none."""
    if not isinstance(args, list) or not args:
        return []
    path = getattr(settings, "MCP_INPROCESS_SERVERS", {}).get(target, "")
    module_name = path.partition(":")[0]
    validate = (
        getattr(importlib.import_module(module_name), "validate_options", None) if module_name else None
    )
    if validate is None:
        return [f"The built-in server {target!r} takes no options: leave the arguments empty."]
    return [f"Option: {problem}." for problem in validate([str(a) for a in args])]
