"""Masking what should never be stored, before test runs, scenario runs and audit arguments are written.

Always masked (secrets): bearer/basic credentials, this platform's API keys (``omni_<prefix>_…``:
the visible prefix is kept), common provider keys (OpenAI, Anthropic, GitHub, GitLab, Slack, AWS,
Google, Stripe, Hugging Face), JSON Web Tokens, PEM private keys, passwords in URLs
(``scheme://user:password@host``), and the value of any JSON key whose name says it is a secret
(``password``, ``secret``, ``token``, ``api_key``, ``authorization``…).

Masked when the organization turned it on (``settings["privacy_mask_personal_data"]``): email
addresses, phone numbers, payment card numbers (Luhn-checked) and IBANs (mod-97-checked).

The patterns are fixed and run on RE2 (linear time in the input, like every pattern in this
project, see ``omni.security.schemas``). detect-secrets was considered: it scans files line by
line with a plugin per provider and has no "mask in a JSON value" entry point or PII detectors,
so a small table of RE2 patterns with a test per pattern fits better here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import re2

PERSONAL_DATA_SETTING = "privacy_mask_personal_data"
MAX_DEPTH = 64  # deeper values are replaced whole (stored payloads are far shallower)

_OPTIONS = re2.Options()
_OPTIONS.max_mem = 8 << 20


@dataclass(frozen=True)
class Pattern:
    name: str
    regex: Any
    replace: Callable[[Any], str]


def _fixed(label: str) -> Callable[[Any], str]:
    return lambda match: f"[redacted:{label}]"


def _keep_group(group: int, label: str) -> Callable[[Any], str]:
    return lambda match: f"{match.group(group)}[redacted:{label}]"


def _luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        n = int(char)
        if position % 2:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def _card(match: Any) -> str:
    text = match.group(0)
    digits = "".join(c for c in text if c.isdigit())
    return "[redacted:card]" if 13 <= len(digits) <= 19 and _luhn_ok(digits) else text


def _iban_ok(text: str) -> bool:
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in moved)
    return int(number) % 97 == 1


def _iban(match: Any) -> str:
    return "[redacted:iban]" if _iban_ok(match.group(0)) else match.group(0)


def _phone(match: Any) -> str:
    digits = sum(1 for c in match.group(0) if c.isdigit())
    return "[redacted:phone]" if 8 <= digits <= 15 else match.group(0)


def _compile(pattern: str) -> Any:
    return re2.compile(pattern, options=_OPTIONS)


SECRET_PATTERNS: tuple[Pattern, ...] = (
    Pattern(
        "private_key",
        _compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),
        _fixed("private_key"),
    ),
    Pattern(
        "url_password",
        _compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/?#@\s]+:)[^@/?#\s]+(@)"),
        lambda m: f"{m.group(1)}[redacted:password]{m.group(2)}",
    ),
    Pattern("omni_api_key", _compile(r"\b(omni_[a-z0-9]{8}_)[A-Za-z0-9_-]{16,}"), _keep_group(1, "api_key")),
    Pattern(
        "authorization",
        _compile(r"(?i)\b((?:bearer|basic|token)\s+)[A-Za-z0-9\-._~+/]{8,}=*"),
        _keep_group(1, "token"),
    ),
    Pattern(
        "jwt", _compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"), _fixed("jwt")
    ),
    Pattern("anthropic", _compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}"), _fixed("anthropic_key")),
    Pattern("openai", _compile(r"\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{20,}"), _fixed("openai_key")),
    Pattern(
        "github",
        _compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})"),
        _fixed("github_token"),
    ),
    Pattern("gitlab", _compile(r"\bglpat-[A-Za-z0-9_-]{20,}"), _fixed("gitlab_token")),
    Pattern("slack", _compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), _fixed("slack_token")),
    Pattern("aws", _compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), _fixed("aws_key")),
    Pattern("google", _compile(r"\bAIza[0-9A-Za-z_-]{35}"), _fixed("google_key")),
    Pattern("stripe", _compile(r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}"), _fixed("stripe_key")),
    Pattern("huggingface", _compile(r"\bhf_[A-Za-z0-9]{30,}"), _fixed("huggingface_token")),
)

PERSONAL_PATTERNS: tuple[Pattern, ...] = (
    Pattern(
        "email",
        _compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"),
        _fixed("email"),
    ),
    Pattern("iban", _compile(r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b"), _iban),
    Pattern("card", _compile(r"\b[0-9](?:[ -]?[0-9]){12,18}\b"), _card),
    Pattern(
        "phone",
        # International (+CC …), a parenthesised area code, or a national number with trunk 0;
        # 8 to 15 digits. Bare digit runs, dates and amounts are left alone.
        _compile(
            r"(?:\+[0-9]{1,3}[ .-]?(?:\([0-9]{1,4}\)[ .-]?)?[0-9]{1,4}(?:[ .-]?[0-9]{2,4}){1,4}"
            r"|\([0-9]{2,5}\)[ .-]?[0-9]{3,4}[ .-]?[0-9]{3,4}"
            r"|\b0[0-9]{2,4}[ ./-][0-9]{3,4}[ .-]?[0-9]{2,5}\b)"
        ),
        _phone,
    ),
)

# JSON keys whose string value is a secret whatever it looks like.
SECRET_KEY_NAMES = _compile(
    r"(?i)^(?:.*(?:password|passwd|passphrase|secret|api[_-]?key|apikey|access[_-]?token|refresh[_-]?token"
    r"|auth[_-]?token|private[_-]?key|client[_-]?secret|credential)s?.*|token|authorization|cookie|set-cookie)$"
)


def mask_text(text: str, *, personal: bool = False) -> str:
    """``text`` with every secret (and, with ``personal``, every personal-data pattern) masked."""
    if type(text) is not str:  # a str subclass (an enum member): RE2 rebuilds results with type(text)
        text = str.__str__(text)
    for pattern in SECRET_PATTERNS + (PERSONAL_PATTERNS if personal else ()):
        text = pattern.regex.sub(pattern.replace, text)
    return text


def redact(value: Any, *, personal: bool = False, _depth: int = 0) -> Any:
    """A copy of a JSON value with its strings masked (dict keys named like secrets: the whole value)."""
    if _depth > MAX_DEPTH:
        return "[redacted:too_deep]"
    if isinstance(value, str):
        return mask_text(value, personal=personal)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if (
                isinstance(key, str)
                and isinstance(item, (str, int, float))
                and item != ""
                and SECRET_KEY_NAMES.search(key)
            ):
                out[key] = "[redacted:secret]"
            else:
                out[key] = redact(item, personal=personal, _depth=_depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [redact(item, personal=personal, _depth=_depth + 1) for item in value]
    return value


def masks_personal_data(organization: Any) -> bool:
    """Whether ``organization`` turned on masking of personal data in stored payloads."""
    settings = getattr(organization, "settings", None) or {}
    return settings.get(PERSONAL_DATA_SETTING) is True


def redact_for(organization: Any, value: Any) -> Any:
    """``redact`` with the organization's choice about personal data."""
    return redact(value, personal=masks_personal_data(organization))
