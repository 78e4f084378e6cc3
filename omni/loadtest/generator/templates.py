"""Argument templates of load profiles: ``{{ vu }}``, ``{{ seq }}``, ``{{ random.int(a, b) }}``,
``{{ random.choice(a, b, c) }}``, ``{{ faker.word }}`` (``name``, ``sentence``, ``uuid4``, ...) and,
in a scenario step, ``{{ var }}`` for a value an earlier step saved.

A small scanner (``str.find`` and a character loop: no ``eval``, no regular expression from the
profile) compiles each value once, before the run; an unknown expression raises ``TemplateError``
then, never in the middle of the load. A value that is exactly one ``{{ … }}`` keeps the type of
what it produces (``random.int`` gives a number); inside a longer string it is inserted as text.

Rendering is deterministic: the data of request ``seq`` of virtual user ``vu`` depends only on the
``random.Random`` the caller passes (the generator seeds it from the shard's seed, ``vu`` and
``seq``), so the same seed gives the same data.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from omni.playground.scenario_paths import PathError, parse_reference, resolve

FAKER_FIELDS = (
    "word",
    "name",
    "first_name",
    "last_name",
    "sentence",
    "text",
    "uuid4",
    "email",
    "city",
    "company",
)
MAX_TEMPLATE_LENGTH = 10_000
MAX_CHOICES = 1000


class TemplateError(ValueError):
    """A template that does not compile; ``path`` says where it stands in the profile."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


@dataclass
class RenderContext:
    """What one rendering sees: the virtual user, its request number, a seeded random generator,
    the shard's Faker (reseeded from ``rng`` per expression) and the scenario's saved variables."""

    vu: int
    seq: int
    rng: random.Random
    faker: Any = None
    variables: Mapping[str, Any] = field(default_factory=dict)


Renderer = Callable[[RenderContext], Any]


# ----------------------------------------------------------------------------- expressions
def _split_args(text: str, where: str) -> list[Any]:
    """The comma-separated literal arguments of ``random.int(...)``/``random.choice(...)``:
    numbers, quoted strings ('x' or "x") and bare words."""
    args: list[Any] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            break
        if text[i] in "'\"":
            quote = text[i]
            end = text.find(quote, i + 1)
            if end < 0:
                raise TemplateError(f"unterminated string in {text!r}", where)
            args.append(text[i + 1 : end])
            i = end + 1
        else:
            end = text.find(",", i)
            end = n if end < 0 else end
            token = text[i:end].strip()
            if not token:
                raise TemplateError(f"empty argument in {text!r}", where)
            args.append(_literal(token))
            i = end
        while i < n and text[i] in " \t":
            i += 1
        if i < n:
            if text[i] != ",":
                raise TemplateError(f"expected ',' in {text!r}", where)
            i += 1
    return args


def _literal(token: str) -> Any:
    for kind in (int, float):
        try:
            return kind(token)
        except ValueError:
            pass
    return token


def _call(expr: str, name: str, where: str) -> list[Any] | None:
    """The arguments of ``name(...)`` when ``expr`` is that call, else None."""
    if not expr.startswith(name):
        return None
    rest = expr[len(name) :].strip()
    if not (rest.startswith("(") and rest.endswith(")")):
        raise TemplateError(f"{name} needs arguments in parentheses: {expr!r}", where)
    return _split_args(rest[1:-1], where)


def compile_expression(expr: str, where: str = "", variables: Iterable[str] = ()) -> Renderer:
    """One ``{{ expr }}`` as a function of the render context."""
    expr = expr.strip()
    if expr == "vu":
        return lambda c: c.vu
    if expr == "seq":
        return lambda c: c.seq
    args = _call(expr, "random.int", where)
    if args is not None:
        if len(args) != 2 or not all(isinstance(a, int) for a in args) or args[0] > args[1]:
            raise TemplateError(f"random.int takes two integers a <= b: {expr!r}", where)
        low, high = args
        return lambda c: c.rng.randint(low, high)
    args = _call(expr, "random.choice", where)
    if args is not None:
        if not args or len(args) > MAX_CHOICES:
            raise TemplateError(f"random.choice takes 1 to {MAX_CHOICES} values: {expr!r}", where)
        choices = tuple(args)
        return lambda c: choices[c.rng.randrange(len(choices))]
    if expr.startswith("faker."):
        attr = expr[len("faker.") :].strip()
        if attr.endswith("()"):
            attr = attr[:-2]
        if attr not in FAKER_FIELDS:
            raise TemplateError(f"unknown faker field {attr!r} (one of {', '.join(FAKER_FIELDS)})", where)

        def fake(c: RenderContext, attr: str = attr) -> Any:
            c.faker.seed_instance(c.rng.getrandbits(64))
            value = getattr(c.faker, attr)()
            return str(value) if attr == "uuid4" else value

        return fake
    known = set(variables)
    try:
        ref = parse_reference(expr)
    except PathError:
        ref = None
    if ref is not None and ref.segments and ref.segments[0] in known:
        return lambda c: resolve(ref, c.variables)
    hint = f"; saved variables here: {', '.join(sorted(known))}" if known else ""
    raise TemplateError(
        f"unknown template expression {{{{ {expr} }}}} (vu, seq, random.int(a, b), random.choice(...), "
        f"faker.<field>{hint})",
        where,
    )


# ----------------------------------------------------------------------------- values
def _compile_text(text: str, where: str, variables: Iterable[str]) -> Renderer | None:
    """None when ``text`` holds no template (a constant)."""
    if "{{" not in text:
        if "}}" in text:
            raise TemplateError(f"'}}}}' without '{{{{' in {text[:80]!r}", where)
        return None
    if len(text) > MAX_TEMPLATE_LENGTH:
        raise TemplateError(f"a template string longer than {MAX_TEMPLATE_LENGTH} characters", where)
    parts: list[str | Renderer] = []
    i = 0
    while i < len(text):
        start = text.find("{{", i)
        if start < 0:
            tail = text[i:]
            if "}}" in tail:
                raise TemplateError(f"'}}}}' without '{{{{' in {text[:80]!r}", where)
            parts.append(tail)
            break
        if "}}" in text[i:start]:
            raise TemplateError(f"'}}}}' without '{{{{' in {text[:80]!r}", where)
        end = text.find("}}", start + 2)
        if end < 0:
            raise TemplateError(f"unclosed '{{{{' in {text[:80]!r}", where)
        if start > i:
            parts.append(text[i:start])
        parts.append(compile_expression(text[start + 2 : end], where, variables))
        i = end + 2
    if len(parts) == 1 and callable(parts[0]):
        return parts[0]  # the whole string: keep the value's type

    def render(c: RenderContext) -> str:
        return "".join(p if isinstance(p, str) else _as_text(p(c)) for p in parts)

    return render


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list | bool) or value is None:
        return json.dumps(value)
    return str(value)


def compile_value(value: Any, where: str = "", variables: Iterable[str] = ()) -> Renderer:
    """A function that renders ``value`` (dicts, lists, strings nested in any way)."""
    variables = tuple(variables)
    dynamic = _compile(value, where, variables)
    if dynamic is None:
        return lambda c: value  # constant: shared, never mutated by the generator
    return dynamic


def _compile(value: Any, where: str, variables: tuple[str, ...]) -> Renderer | None:
    if isinstance(value, str):
        return _compile_text(value, where, variables)
    if isinstance(value, dict):
        items = [
            (k, v, _compile(v, f"{where}.{k}" if where else str(k), variables)) for k, v in value.items()
        ]
        if all(r is None for _, _, r in items):
            return None
        return lambda c: {k: (r(c) if r is not None else v) for k, v, r in items}
    if isinstance(value, list):
        items = [(v, _compile(v, f"{where}[{i}]", variables)) for i, v in enumerate(value)]
        if all(r is None for _, r in items):
            return None
        return lambda c: [r(c) if r is not None else v for v, r in items]
    return None


def is_dynamic(value: Any) -> bool:
    """Whether ``value`` holds a template anywhere."""
    if isinstance(value, str):
        return "{{" in value
    if isinstance(value, dict):
        return any(is_dynamic(v) for v in value.values())
    if isinstance(value, list):
        return any(is_dynamic(v) for v in value)
    return False
