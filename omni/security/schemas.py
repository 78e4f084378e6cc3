"""JSON Schema evaluation of schemas nobody here wrote: RE2 for every regular expression, and a budget.

A schema that a user, a tool argument or a downstream server hands us is untrusted code in two ways:

* **Regular expressions.** ``pattern``, ``patternProperties`` (also as seen by
  ``additionalProperties`` and ``unevaluatedProperties``), ``propertyNames`` (through ``pattern``)
  and ``format: "regex"`` run on Python's ``re`` in stock ``jsonschema``: a backtracking engine that
  holds the GIL for the whole match (``^(a+)+$`` against ``"a" * 28 + "!"`` froze the process for
  about 10 s). Here they run on RE2 (``google-re2``), whose matching time is linear in the input. A
  pattern RE2 cannot compile (look-around, back-references, a repetition too large for its memory
  budget) is refused with ``UnsupportedPattern`` — never handed to ``re`` instead.
* **Amplification.** Nested ``$defs``/``$ref``/``anyOf`` double the work per level. Evaluation
  counts keyword evaluations, ``$ref`` follows and errors created against a ``SchemaBudget`` and stops
  with ``SchemaBudgetExceeded`` (naming the limit) when one runs out.

The validator classes are the stock draft classes extended (``jsonschema.validators.extend``): the
regex-using keywords are the library's own functions re-bound to an RE2 ``re`` stand-in, so error
messages and semantics stay the library's; every keyword is wrapped to count work. ``collect_errors``
is the one way to evaluate under a budget::

    validator = build_validator(schema)                  # may raise SchemaProblem
    errors = collect_errors(validator, instance, budget)  # may raise SchemaProblem

Both the gateway's argument check (``omni.gateway.server.validate_arguments``) and the built-in
utilities server's ``json_tool`` use this module. It needs no Django (worker processes import it).

RE2 semantics differ from ``re`` where JSON Schema's ECMA-262 dialect differs too: ``\\d``, ``\\w``
and ``\\s`` are ASCII classes (as in ECMA-262), and there is no look-around or back-reference.
"""

from __future__ import annotations

import functools
import math
import threading
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import attrs
import jsonschema
import jsonschema.protocols
import re2
import referencing
import referencing.exceptions
from jsonschema import _keywords, _legacy_keywords, _utils

# RE2's memory for one compiled pattern: a{1000}{1000} and the like fail to compile, not to run.
RE2_MAX_MEM = 4 << 20
PATTERN_CACHE_SIZE = 256
MAX_PATTERN_LENGTH = 10_000


class SchemaProblem(Exception):
    """The schema cannot be evaluated safely; the message is meant for the caller."""


class UnsupportedPattern(SchemaProblem):
    """A regular expression that RE2 does not accept (it is not run on another engine instead)."""


class SchemaBudgetExceeded(SchemaProblem):
    """Evaluation stopped because one of the ``SchemaBudget`` limits ran out."""

    def __init__(self, limit: str, value: int, setting: str) -> None:
        self.limit = limit
        self.value = value
        self.setting = setting
        super().__init__(
            f"schema evaluation stopped: more than {value} {limit} (the limit {setting}); "
            "the schema is too expensive to check (deeply nested $ref/anyOf?)"
        )


@dataclass(frozen=True)
class SchemaBudget:
    """How much one evaluation of one instance may do."""

    max_steps: int = 20_000  # keyword evaluations (each keyword of each subschema visited)
    max_refs: int = 2_000  # $ref / $dynamicRef / $recursiveRef followed
    max_errors: int = 1_000  # validation errors created (including those inside anyOf/oneOf)


_default_budget: SchemaBudget | None = None


def set_default_budget(budget: SchemaBudget | None) -> None:
    """The budget of this process when it has no Django settings (a tool worker process)."""
    global _default_budget
    _default_budget = budget


def budget_from_settings() -> SchemaBudget:
    """The budget configured in Django settings (``SCHEMA_MAX_*``), or the defaults without Django."""
    if _default_budget is not None:
        return _default_budget
    try:
        from django.conf import settings

        return SchemaBudget(
            max_steps=settings.SCHEMA_MAX_STEPS,
            max_refs=settings.SCHEMA_MAX_REFS,
            max_errors=settings.SCHEMA_MAX_ERRORS,
        )
    except Exception:  # no Django, or settings not configured (a worker process)
        return SchemaBudget()


# --------------------------------------------------------------------------- RE2
def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # RE2 would print every refused pattern to stderr
    options.max_mem = RE2_MAX_MEM
    return options


@functools.lru_cache(maxsize=PATTERN_CACHE_SIZE)
def compile_pattern(pattern: str) -> Any:
    """``pattern`` compiled by RE2 (cached); ``UnsupportedPattern`` when RE2 refuses it."""
    if not isinstance(pattern, str):
        raise UnsupportedPattern(f"a regular expression must be a string, not {type(pattern).__name__}")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise UnsupportedPattern(f"a regular expression is longer than {MAX_PATTERN_LENGTH} characters")
    try:
        return re2.compile(pattern, _options())
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        shown = pattern if len(pattern) <= 100 else pattern[:100] + "…"
        raise UnsupportedPattern(
            f"regular expression {shown!r} is not supported by the linear-time RE2 engine: {reason} "
            "(look-around and back-references are not available)"
        ) from None


class _Re2Module:
    """The part of ``re`` that jsonschema's keyword functions use, answered by RE2."""

    error = re2.error

    @staticmethod
    def search(pattern: str, string: str) -> Any:
        return compile_pattern(pattern).search(string)

    @staticmethod
    def compile(pattern: str) -> Any:
        return compile_pattern(pattern)


_RE2 = _Re2Module()


def _rebind(function: Callable[..., Any], **names: Any) -> Callable[..., Any]:
    """A copy of ``function`` whose module globals ``names`` are replaced (e.g. ``re`` by RE2)."""
    namespace = dict(function.__globals__)
    namespace.update(names)
    copy = types.FunctionType(
        function.__code__, namespace, function.__name__, function.__defaults__, function.__closure__
    )
    copy.__kwdefaults__ = function.__kwdefaults__
    namespace[function.__name__] = copy  # recursive calls reach the copy, not the original
    return copy


_find_additional = _rebind(_utils.find_additional_properties, re=_RE2)
_find_evaluated = _rebind(_utils.find_evaluated_property_keys_by_schema, re=_RE2)
_find_evaluated_2019 = _rebind(_legacy_keywords.find_evaluated_property_keys_by_schema, re=_RE2)

_RE2_KEYWORDS: dict[str, Callable[..., Any]] = {
    "pattern": _rebind(_keywords.pattern, re=_RE2),
    "patternProperties": _rebind(_keywords.patternProperties, re=_RE2),
    "additionalProperties": _rebind(
        _keywords.additionalProperties, find_additional_properties=_find_additional
    ),
}
_UNEVALUATED = {
    _keywords.unevaluatedProperties: _rebind(
        _keywords.unevaluatedProperties, find_evaluated_property_keys_by_schema=_find_evaluated
    ),
    _legacy_keywords.unevaluatedProperties_draft2019: _rebind(
        _legacy_keywords.unevaluatedProperties_draft2019,
        find_evaluated_property_keys_by_schema=_find_evaluated_2019,
    ),
}
_REF_KEYWORDS = frozenset({"$ref", "$dynamicRef", "$recursiveRef"})


# --------------------------------------------------------------------------- the budget
class _Meter(threading.local):
    budget: SchemaBudget | None = None
    steps = 0
    refs = 0
    errors = 0


_meter = _Meter()


def _counted(keyword: str, function: Callable[..., Any]) -> Callable[..., Any]:
    is_ref = keyword in _REF_KEYWORDS

    def keyword_under_budget(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[Any]:
        budget = _meter.budget
        if budget is not None:
            _meter.steps += 1
            if _meter.steps > budget.max_steps:
                raise SchemaBudgetExceeded("keyword evaluations", budget.max_steps, "SCHEMA_MAX_STEPS")
            if is_ref:
                _meter.refs += 1
                if _meter.refs > budget.max_refs:
                    raise SchemaBudgetExceeded("$ref follows", budget.max_refs, "SCHEMA_MAX_REFS")
        for error in function(validator, value, instance, schema) or ():
            if budget is not None and not getattr(error, "_omni_counted", False):
                error._omni_counted = True
                _meter.errors += 1
                if _meter.errors > budget.max_errors:
                    raise SchemaBudgetExceeded("validation errors", budget.max_errors, "SCHEMA_MAX_ERRORS")
            yield error

    keyword_under_budget.__name__ = getattr(function, "__name__", keyword)
    return keyword_under_budget


# --------------------------------------------------------------------------- validator classes
def _is_regex(instance: object) -> bool:
    if isinstance(instance, str):
        compile_pattern(instance)
    return True


def _format_checker(base: jsonschema.FormatChecker) -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker(formats=())
    checker.checkers = dict(base.checkers)
    checker.checks("regex", raises=UnsupportedPattern)(_is_regex)
    return checker


SUPPORTED_DRAFTS: tuple[type, ...] = (
    jsonschema.Draft202012Validator,
    jsonschema.Draft201909Validator,
    jsonschema.Draft7Validator,
    jsonschema.Draft6Validator,
    jsonschema.Draft4Validator,
)
_SAFE: dict[type, type] = {}


def _safe_evolve(self: Any, **changes: Any) -> Any:
    """``evolve`` that stays on a safe class even when a subschema names another draft in ``$schema``."""
    schema = changes.setdefault("schema", self.schema)
    chosen = jsonschema.validators.validator_for(schema, default=self.BASE_DRAFT)
    new_class = _SAFE.get(chosen)
    if new_class is None:
        raise SchemaProblem(f"a subschema uses an unsupported $schema ({_draft_name(chosen)})")
    for field in attrs.fields(type(self)):
        if field.init and field.alias not in changes:
            changes[field.alias] = getattr(self, field.name)
    return new_class(**changes)


def _make_safe(base: type) -> type:
    keywords = {}
    for keyword, function in base.VALIDATORS.items():
        function = _RE2_KEYWORDS.get(keyword, _UNEVALUATED.get(function, function))
        keywords[keyword] = _counted(keyword, function)
    safe = jsonschema.validators.extend(
        base, validators=keywords, format_checker=_format_checker(base.FORMAT_CHECKER)
    )
    safe.__name__ = safe.__qualname__ = f"Safe{base.__name__}"
    safe.BASE_DRAFT = base
    safe.evolve = _safe_evolve
    return safe


for _draft in SUPPORTED_DRAFTS:
    _SAFE[_draft] = _make_safe(_draft)


def _draft_name(cls: type) -> str:
    return getattr(cls, "META_SCHEMA", {}).get("$schema", cls.__name__)


def safe_class_for(schema: Any, default: type = jsonschema.Draft202012Validator) -> type:
    """The RE2 and budget class for ``schema``'s draft (``$schema``; ``default`` when it names none)."""
    chosen = jsonschema.validators.validator_for(schema, default=default)
    safe = _SAFE.get(chosen)
    if safe is None:
        raise SchemaProblem(
            f"JSON Schema {_draft_name(chosen)} is not supported (use draft 4, 6, 7, 2019-09 or 2020-12)"
        )
    return safe


def check_schema(schema: Any, default: type = jsonschema.Draft202012Validator) -> None:
    """Check ``schema`` against its metaschema, ``format: regex`` by RE2.

    Raises ``jsonschema.SchemaError`` (not a valid schema) or ``SchemaProblem`` (unsupported draft, a
    pattern RE2 refuses).
    """
    safe = safe_class_for(schema, default)
    try:
        safe.check_schema(schema, format_checker=safe.FORMAT_CHECKER)
    except jsonschema.SchemaError as exc:
        if exc.validator == "format" and exc.validator_value == "regex" and isinstance(exc.instance, str):
            compile_pattern(exc.instance)  # raises UnsupportedPattern with RE2's reason
        raise
    except RecursionError:
        raise SchemaProblem("the schema is nested too deeply") from None


def build_validator(
    schema: Any,
    *,
    default: type = jsonschema.Draft202012Validator,
    formats: bool = False,
    registry: referencing.Registry | None = None,
) -> jsonschema.protocols.Validator:
    """A validator for ``schema`` on RE2 that counts its work (evaluate it with ``collect_errors``).

    ``formats`` asserts ``format`` (with the RE2 ``regex`` checker). ``registry`` defaults to an
    empty one: a ``$ref`` to a remote URL is refused instead of fetched.
    """
    safe = safe_class_for(schema, default)
    return safe(
        schema,
        registry=registry if registry is not None else referencing.Registry(),
        format_checker=safe.FORMAT_CHECKER if formats else None,
    )


def collect_errors(
    validator: jsonschema.protocols.Validator, instance: Any, budget: SchemaBudget | None = None
) -> list[jsonschema.ValidationError]:
    """Every error of ``instance`` under ``validator``, within ``budget`` (default: from settings).

    Raises ``SchemaBudgetExceeded`` when a limit runs out, ``UnsupportedPattern`` for a pattern RE2
    refuses, ``SchemaProblem`` for an unresolvable ``$ref`` or a schema nested beyond the stack.
    """
    if _meter.budget is not None:
        raise RuntimeError("collect_errors is not re-entrant")
    _meter.budget = budget or budget_from_settings()
    _meter.steps = _meter.refs = _meter.errors = 0
    try:
        return list(validator.iter_errors(instance))
    except referencing.exceptions.Unresolvable as exc:
        raise SchemaProblem(f"a $ref cannot be resolved (remote references are not fetched): {exc}") from None
    except jsonschema.exceptions._WrappedReferencingError as exc:
        raise SchemaProblem(
            f"a $ref cannot be resolved (remote references are not fetched): {exc._wrapped}"
        ) from None
    except RecursionError:
        raise SchemaProblem("schema evaluation stopped: the schema is nested too deeply") from None
    finally:
        _meter.budget = None


def work_of(validator: jsonschema.protocols.Validator, instance: Any) -> dict[str, int]:
    """What evaluating ``instance`` costs (steps, refs, errors), for tests and tuning."""
    collect_errors(validator, instance, SchemaBudget(math.inf, math.inf, math.inf))  # type: ignore[arg-type]
    return {"steps": _meter.steps, "refs": _meter.refs, "errors": _meter.errors}
