"""Full-text ranking of notes, done in Python so it behaves the same on SQLite and PostgreSQL.

The database only pre-filters (``icontains`` on any term); ``rank`` then scores each candidate by
term frequency: each occurrence of a query term as a word counts ``TITLE_WEIGHT`` in the title and 1
in the body. ``score_many`` scores a batch of notes in one call: the knowledge server sends batches to
the tool worker pool (``mcp_servers.workers``), so ranking never runs on the gateway's event loop.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

TITLE_WEIGHT = 3.0
MAX_TERMS = 10
SNIPPET_CHARS = 160

_WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def tokenize(text: str) -> list[str]:
    """Lower-cased words of ``text`` (letters and digits; apostrophes kept inside words)."""
    return [word.casefold() for word in _WORD_RE.findall(text)]


def query_terms(query: str) -> list[str]:
    """The distinct terms of a query, in order, at most ``MAX_TERMS``."""
    seen: dict[str, None] = {}
    for term in tokenize(query):
        seen.setdefault(term, None)
    return list(seen)[:MAX_TERMS]


@dataclass(frozen=True)
class Scored:
    score: float
    matched_terms: list[str]
    snippet: str


def score(title: str, body: str, terms: list[str]) -> Scored | None:
    """Score one note against the terms, or ``None`` when no term occurs as a word."""
    title_counts = Counter(tokenize(title))
    body_counts = Counter(tokenize(body))
    total = 0.0
    matched: list[str] = []
    for term in terms:
        hits = TITLE_WEIGHT * title_counts[term] + body_counts[term]
        if hits:
            total += hits
            matched.append(term)
    if not matched:
        return None
    return Scored(score=total, matched_terms=matched, snippet=snippet(body or title, matched))


def score_many(notes: list[tuple[int, str, str]], terms: list[str]) -> list[tuple[int, Scored]]:
    """``(key, Scored)`` for each ``(key, title, body)`` that matches at least one term, in order."""
    scored = []
    for key, title, body in notes:
        result = score(title, body, terms)
        if result is not None:
            scored.append((key, result))
    return scored


def snippet(text: str, terms: list[str], width: int = SNIPPET_CHARS) -> str:
    """About ``width`` characters of ``text`` around the first word matching one of ``terms``."""
    wanted = set(terms)
    first = None
    for match in _WORD_RE.finditer(text):
        if match.group().casefold() in wanted:
            first = match.start()
            break
    if first is None:
        first = 0
    start = max(0, first - width // 3)
    end = min(len(text), start + width)
    start = max(0, min(start, end - width))
    piece = " ".join(text[start:end].split())
    return ("…" if start > 0 else "") + piece + ("…" if end < len(text) else "")
