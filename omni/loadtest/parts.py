"""The other parts of the load tester as the pages call them, in one place.

The pages (``views_*.py``) use the profiles, services, execution and analysis parts through this
module only. Each import is guarded: a build without one of them still serves every page, and
what needs the missing part says so (``PartMissing``, shown as a form error) instead of a 500.
``profile_errors`` turns a ``ProfileError`` (or any exception) into lines for a form's error list.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings


class PartMissing(RuntimeError):
    """A part of the load tester that this build does not have."""


try:  # the profiles part: omni/loadtest/profiles/
    from omni.loadtest.profiles import ProfileError, parse_profile, shipped_profiles
except ImportError:  # pragma: no cover - only before the parts are merged
    import yaml

    class ProfileError(ValueError):  # type: ignore[no-redef]
        def __init__(self, messages: list[str]) -> None:
            super().__init__("; ".join(messages))
            self.messages = messages

    def parse_profile(text: str) -> dict[str, Any]:  # type: ignore[misc]
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f"line {mark.line + 1}: " if mark is not None else ""
            raise ProfileError([f"{line}not valid YAML ({getattr(exc, 'problem', exc)})"]) from None
        if not isinstance(data, dict):
            raise ProfileError(["line 1: a profile is a mapping (name:, operations:, …)"])
        return data

    def shipped_profiles() -> dict[str, str]:  # type: ignore[misc]
        folder = Path(settings.BASE_DIR) / "loadtests"
        return {p.stem: p.read_text() for p in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}


try:  # the profiles part: omni/loadtest/services.py
    from omni.loadtest.services import RunRefused, cancel_run, create_run
except ImportError:  # pragma: no cover

    class RunRefused(Exception):  # type: ignore[no-redef]
        pass

    def create_run(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
        raise PartMissing("Load runs are not available in this build (omni.loadtest.services is missing).")

    def cancel_run(run: Any) -> None:  # type: ignore[misc]
        raise PartMissing("Cancelling is not available in this build (omni.loadtest.services is missing).")


try:  # the execution part: omni/loadtest/execution.py
    from omni.loadtest.execution import start_run
except ImportError:  # pragma: no cover

    def start_run(run: Any) -> None:  # type: ignore[misc]
        raise PartMissing("Load runs cannot start in this build (omni.loadtest.execution is missing).")


try:  # the analysis part: omni/loadtest/analysis/
    from omni.loadtest.analysis import compare, report_csv, report_json, save_baseline
except ImportError:  # pragma: no cover
    compare = None  # type: ignore[assignment]

    def report_json(run: Any) -> str:  # type: ignore[misc]
        raise PartMissing("Exports are not available in this build (omni.loadtest.analysis is missing).")

    report_csv = report_json  # type: ignore[assignment]

    def save_baseline(run: Any, name: str, user: Any = None) -> Any:  # type: ignore[misc]
        raise PartMissing("Baselines are not available in this build (omni.loadtest.analysis is missing).")


def profile_errors(exc: BaseException) -> list[str]:
    """The lines of a ``ProfileError`` (each with its YAML path and line) for a form error list."""
    items = getattr(exc, "messages", None) or getattr(exc, "errors", None)
    if items is None:
        items = exc.args[0] if exc.args and isinstance(exc.args[0], list) else [str(exc)]
    lines = []
    for item in items:
        if isinstance(item, dict):
            where = " ".join(
                part
                for part in (
                    f"line {item['line']}" if item.get("line") else "",
                    str(item.get("path") or ""),
                )
                if part
            )
            message = str(item.get("message") or item)
            lines.append(f"{where}: {message}" if where else message)
        else:
            lines.append(str(item))
    return lines or [str(exc) or "The profile is not valid."]


def refusal_message(exc: BaseException) -> str:
    """The text of a ``RunRefused`` (its ``message`` attribute or its first argument)."""
    return str(getattr(exc, "message", None) or (exc.args[0] if exc.args else "") or "The run was refused.")


def refusal_lines(exc: BaseException) -> list[str]:
    """A ``RunRefused``'s message, then its detailed ``messages`` (each once) for a form."""
    first = refusal_message(exc)
    details = [str(m) for m in (getattr(exc, "messages", None) or []) if str(m) != first]
    return [first, *details]


def validate_profile(text: str, org: Any = None) -> dict[str, Any]:
    """``parse_profile`` for ``org`` (scenario names resolve among its own scenarios too)."""
    try:
        return parse_profile(text, org=org)
    except TypeError:  # a parser that takes no organization
        return parse_profile(text)
