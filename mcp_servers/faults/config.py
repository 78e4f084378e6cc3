"""The fault settings of one connection to the faults server, and the three ways they arrive.

A connection's settings apply to every tool call it makes (``FaultSettings``):

``latency``
    a delay before each answer, a distribution in milliseconds: ``fixed:MS``,
    ``uniform:LOW:HIGH``, ``normal:MEAN:STDDEV`` or ``exponential:MEAN`` (each sample is clamped into
    0…``MAX_DELAY_MS``);
``error_rate``
    the probability (0…1) that a call fails instead of answering;
``error_kind``
    how it fails: ``tool`` (a result with ``isError``) or ``protocol`` (a JSON-RPC error);
``error_code``
    the JSON-RPC code of protocol errors (default -32603, internal error);
``hang_rate``
    the probability (0…1) that a call never answers (until the caller cancels it, or ``MAX_HANG_S``);
``seed``
    a random seed, so the same connection draws the same sequence.

They reach the server as

* ``--latency normal:50:10 --error-rate 0.1`` lines in the *arguments* of an in-process server
  connection (``ServerConnection.args``, validated when the connection is saved), or on the command
  line of ``python -m mcp_servers.faults``;
* ``FAULTS_LATENCY``, ``FAULTS_ERROR_RATE``… environment variables of the standalone process (the
  command line wins over them);
* the query string of a Streamable HTTP connection's URL
  (``http://host:9104/mcp?latency=fixed:200&error_rate=0.05``): per connection, so one standalone
  process serves a "slowed" and a normal connection at once. The query overrides the process's
  settings for the requests that carry it (it is part of the signed path).
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_DELAY_MS = 60_000.0  # the longest delay any setting or tool applies
MAX_HANG_S = 600.0  # a hang ends after this long even if nobody cancels it
DEFAULT_HANG_S = 300.0
ERROR_KINDS = ("tool", "protocol")
DISTRIBUTIONS = {"fixed": 1, "uniform": 2, "normal": 2, "exponential": 1}
INTERNAL_ERROR = -32603
# JSON-RPC codes are integers; keep them in a signed 32-bit range.
MIN_CODE, MAX_CODE = -(2**31), 2**31 - 1


class FaultConfigError(ValueError):
    """Settings that cannot be used; ``messages`` says what is wrong with each."""

    def __init__(self, messages: Sequence[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = list(messages)


@dataclass(frozen=True)
class Latency:
    """A latency distribution in milliseconds; ``sample`` is always within 0…``MAX_DELAY_MS``."""

    kind: str = "fixed"
    params: tuple[float, ...] = (0.0,)

    @classmethod
    def parse(cls, text: str) -> Latency:
        """``fixed:100``, ``uniform:50:150``, ``normal:100:20``, ``exponential:100`` (ms)."""
        kind, _, rest = str(text).strip().partition(":")
        kind = kind.strip().lower()
        if kind not in DISTRIBUTIONS:
            raise ValueError(
                f"unknown distribution {kind!r}: use fixed:MS, uniform:LOW:HIGH, normal:MEAN:STDDEV "
                "or exponential:MEAN (milliseconds)"
            )
        parts = [p for p in rest.split(":")] if rest else []
        if len(parts) != DISTRIBUTIONS[kind]:
            raise ValueError(
                f"{kind} takes {DISTRIBUTIONS[kind]} number(s) of milliseconds, not {len(parts)}"
            )
        try:
            params = tuple(float(p) for p in parts)
        except ValueError:
            raise ValueError(f"{text!r}: the milliseconds must be numbers") from None
        return cls.of(kind, *params)

    @classmethod
    def of(cls, kind: str, *params: float) -> Latency:
        if kind not in DISTRIBUTIONS or len(params) != DISTRIBUTIONS[kind]:
            raise ValueError(f"{kind} takes {DISTRIBUTIONS.get(kind, '?')} parameter(s)")
        for value in params:
            if not math.isfinite(value) or value < 0 or value > MAX_DELAY_MS:
                raise ValueError(f"milliseconds must be between 0 and {MAX_DELAY_MS:g}, not {value:g}")
        if kind == "uniform" and params[0] > params[1]:
            raise ValueError(f"uniform:LOW:HIGH needs LOW <= HIGH, not {params[0]:g} > {params[1]:g}")
        return cls(kind, tuple(params))

    @property
    def is_zero(self) -> bool:
        return all(p == 0 for p in self.params)

    def sample(self, rng: random.Random, cap_ms: float = MAX_DELAY_MS) -> float:
        """One delay in ms, clamped into 0…min(cap_ms, MAX_DELAY_MS)."""
        if self.kind == "fixed":
            value = self.params[0]
        elif self.kind == "uniform":
            value = rng.uniform(self.params[0], self.params[1])
        elif self.kind == "normal":
            value = rng.gauss(self.params[0], self.params[1])
        else:
            mean = self.params[0]
            value = rng.expovariate(1.0 / mean) if mean > 0 else 0.0
        return round(min(max(value, 0.0), min(cap_ms, MAX_DELAY_MS)), 3)

    def __str__(self) -> str:
        return ":".join([self.kind, *(f"{p:g}" for p in self.params)])


NO_LATENCY = Latency()


@dataclass(frozen=True)
class FaultSettings:
    """What one connection does to every tool call (see the module's docstring)."""

    latency: Latency = NO_LATENCY
    error_rate: float = 0.0
    error_kind: str = "tool"
    error_code: int = INTERNAL_ERROR
    hang_rate: float = 0.0
    seed: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "latency": str(self.latency),
            "error_rate": self.error_rate,
            "error_kind": self.error_kind,
            "error_code": self.error_code,
            "hang_rate": self.hang_rate,
            "seed": self.seed,
        }

    def rng(self) -> random.Random:
        return random.Random(self.seed)  # noqa: S311 (fault injection, not security)

    def merged(self, values: Mapping[str, str]) -> FaultSettings:
        """These settings with ``values`` (raw text by setting name) applied over them."""
        return parse_values(values, base=self)


# setting name -> (command-line flag, environment variable)
SETTINGS = {
    "latency": ("--latency", "FAULTS_LATENCY"),
    "error_rate": ("--error-rate", "FAULTS_ERROR_RATE"),
    "error_kind": ("--error-kind", "FAULTS_ERROR_KIND"),
    "error_code": ("--error-code", "FAULTS_ERROR_CODE"),
    "hang_rate": ("--hang-rate", "FAULTS_HANG_RATE"),
    "seed": ("--seed", "FAULTS_SEED"),
}
_FLAGS = {flag: name for name, (flag, _) in SETTINGS.items()}


def _probability(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number between 0 and 1, not {text!r}") from None
    if not (0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be between 0 and 1, not {text}")
    return value


def _integer(name: str, text: str, low: int, high: int) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise ValueError(f"{name} must be an integer, not {text!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, not {value}")
    return value


def _convert(name: str, text: str) -> Any:
    if name == "latency":
        return Latency.parse(text)
    if name in ("error_rate", "hang_rate"):
        return _probability(name, text)
    if name == "error_kind":
        kind = str(text).strip().lower()
        if kind not in ERROR_KINDS:
            raise ValueError(f"error_kind must be 'tool' or 'protocol', not {text!r}")
        return kind
    if name == "error_code":
        return _integer(name, text, MIN_CODE, MAX_CODE)
    if name == "seed":
        return _integer(name, text, 0, 2**63 - 1)
    raise ValueError(f"unknown fault setting {name!r} (known: {', '.join(SETTINGS)})")


def parse_values(values: Mapping[str, str], *, base: FaultSettings | None = None) -> FaultSettings:
    """Settings from raw ``{name: text}`` over ``base``; raises ``FaultConfigError`` listing every problem."""
    changes: dict[str, Any] = {}
    errors: list[str] = []
    for name, text in values.items():
        try:
            changes[name] = _convert(name, text)
        except ValueError as exc:
            errors.append(str(exc))
    if errors:
        raise FaultConfigError(errors)
    return dataclasses.replace(base or FaultSettings(), **changes)


def parse_args(args: Iterable[str], *, base: FaultSettings | None = None) -> FaultSettings:
    """Settings from command-line style arguments: ``["--latency", "fixed:100", "--error-rate=0.5"]``.

    Each flag takes one value, as the next argument or after ``=``. Raises ``FaultConfigError``."""
    values: dict[str, str] = {}
    errors: list[str] = []
    items = [str(a).strip() for a in args if str(a).strip()]
    index = 0
    while index < len(items):
        flag, eq, value = items[index].partition("=")
        index += 1
        has_value = bool(eq) or (index < len(items) and not items[index].startswith("--"))
        if not eq and has_value:
            value = items[index]
            index += 1
        name = _FLAGS.get(flag)
        if name is None:
            errors.append(f"unknown option {flag!r} (known: {', '.join(sorted(_FLAGS))})")
        elif not has_value:
            errors.append(f"{flag} needs a value")
        elif name in values:
            errors.append(f"{flag} is given twice")
        else:
            values[name] = value
    try:
        settings = parse_values(values, base=base)
    except FaultConfigError as exc:
        errors.extend(exc.messages)
    if errors:
        raise FaultConfigError(errors)
    return settings


def from_env(environ: Mapping[str, str], *, base: FaultSettings | None = None) -> FaultSettings:
    """Settings from ``FAULTS_*`` environment variables (unset or empty ones are left out)."""
    values = {name: environ[var] for name, (_, var) in SETTINGS.items() if environ.get(var, "").strip()}
    return parse_values(values, base=base)


def from_query(query: Mapping[str, str], *, base: FaultSettings) -> FaultSettings:
    """Settings from a URL's query parameters (``latency``, ``error_rate``…) over ``base``."""
    return parse_values({key: value for key, value in query.items()}, base=base)


def validate_options(args: Sequence[str]) -> list[str]:
    """What is wrong with ``args`` as the options of an in-process faults connection ([] if nothing).

    Called when a ``ServerConnection`` is saved (the registry looks it up next to the server's
    factory), so a bad setting is a form error, not a failure at the first call."""
    try:
        parse_args(args)
    except FaultConfigError as exc:
        return exc.messages
    return []
