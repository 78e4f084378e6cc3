"""``text_stats`` and ``regex_extract``.

``regex_extract`` runs the caller's pattern on RE2 (``google-re2``, through
``omni.security.schemas.compile_pattern``): matching time is linear in the text, so no pattern can
backtrack catastrophically. RE2 has no look-around and no back-references; such a pattern is
refused with a clear error, never run on another engine. Both tools run in the tool worker pool
(``mcp_servers.workers``) with its CPU, memory and time limits; text and pattern sizes are bounded.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Annotated, Literal

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from omni.security.schemas import UnsupportedPattern, compile_pattern

MAX_TEXT_LENGTH = 100_000
MAX_PATTERN_LENGTH = 1_000

_WORD_RE = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
_SENTENCE_END_RE = re.compile(r"[.!?…]+(?=\s|$)")
_STOPWORDS = frozenset(
    "a an and are as at be but by for from has have he her his i if in into is it its me my not of on or our "
    "she so that the their them they this to was we were what when which who will with you your".split()
)

Text = Annotated[
    str, Field(max_length=MAX_TEXT_LENGTH, description=f"Text (at most {MAX_TEXT_LENGTH} chars)")
]


# --------------------------------------------------------------------------- text_stats
class WordCount(BaseModel):
    word: str
    count: int


class TextStats(BaseModel):
    characters: int
    characters_no_spaces: int
    words: int
    unique_words: int
    sentences: int
    lines: int
    paragraphs: int
    average_word_length: float = Field(description="Mean letters per word, rounded to 2 decimals")
    top_words: list[WordCount] = Field(description="Most frequent words (lower-cased), ties alphabetical")
    reading_time_seconds: int = Field(description="At words_per_minute, rounded up")


def text_stats(
    text: Text,
    top: Annotated[int, Field(ge=0, le=50, description="How many top words to list (0-50)")] = 10,
    exclude_stopwords: Annotated[
        bool, Field(description="Leave common English words (the, and, of…) out of top_words")
    ] = True,
    words_per_minute: Annotated[int, Field(ge=50, le=1000, description="Reading speed")] = 200,
) -> TextStats:
    """Count characters, words, sentences, lines and paragraphs; list top words; estimate reading time."""
    words = _WORD_RE.findall(text)
    lowered = [w.casefold() for w in words]
    counts = Counter(w for w in lowered if not (exclude_stopwords and w in _STOPWORDS))
    top_words = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]
    sentences = [s for s in _SENTENCE_END_RE.split(text) if _WORD_RE.search(s)]
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    return TextStats(
        characters=len(text),
        characters_no_spaces=sum(1 for ch in text if not ch.isspace()),
        words=len(words),
        unique_words=len(set(lowered)),
        sentences=len(sentences),
        lines=len(text.splitlines()),
        paragraphs=len(paragraphs),
        average_word_length=round(sum(len(w) for w in words) / len(words), 2) if words else 0.0,
        top_words=[WordCount(word=w, count=c) for w, c in top_words],
        reading_time_seconds=math.ceil(len(words) * 60 / words_per_minute),
    )


# --------------------------------------------------------------------------- regex_extract
RegexFlag = Literal["IGNORECASE", "MULTILINE", "DOTALL", "VERBOSE", "ASCII"]
# RE2 inline flags; ASCII is what RE2's \d \w \s and \b already are.
_FLAGS = {"IGNORECASE": "i", "MULTILINE": "m", "DOTALL": "s", "ASCII": ""}


class RegexMatch(BaseModel):
    match: str
    start: int
    end: int
    groups: list[str | None] = Field(description="Numbered groups 1..n (null when a group did not take part)")
    named_groups: dict[str, str | None]


class RegexResult(BaseModel):
    pattern: str
    match_count: int = Field(description="Matches returned")
    truncated: bool = Field(description="True when more matches exist beyond max_matches")
    matches: list[RegexMatch]


def regex_extract(
    pattern: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_PATTERN_LENGTH,
            description=(
                "Regular expression in RE2 syntax (Python-like, no look-around or back-references), "
                "e.g. (?P<user>\\w+)@(?P<domain>[\\w.]+)"
            ),
        ),
    ],
    text: Text,
    flags: Annotated[list[RegexFlag], Field(max_length=5, description="Regex flags")] = [],  # noqa: B006
    max_matches: Annotated[int, Field(ge=1, le=1000, description="Most matches to return (1-1000)")] = 100,
) -> RegexResult:
    """Find every match of a regular expression in a text, with numbered and named groups.

    Patterns run on the linear-time RE2 engine (no catastrophic backtracking): \\d, \\w and \\s
    are ASCII classes; look-around, back-references and the VERBOSE flag are not available.
    """
    if "VERBOSE" in flags:
        raise ToolError("the VERBOSE flag is not supported by the RE2 engine (write the pattern without it)")
    inline = "".join(sorted({_FLAGS[flag] for flag in flags}))
    try:
        compiled = compile_pattern(f"(?{inline}){pattern}" if inline else pattern)
    except UnsupportedPattern as exc:
        raise ToolError(f"invalid regular expression: {exc}") from None
    found: list[RegexMatch] = []
    truncated = False
    for m in compiled.finditer(text):
        if len(found) == max_matches:
            truncated = True
            break
        found.append(
            RegexMatch(
                match=m.group(0),
                start=m.start(),
                end=m.end(),
                groups=list(m.groups()),
                named_groups=m.groupdict(),
            )
        )
    return RegexResult(pattern=pattern, match_count=len(found), truncated=truncated, matches=found)
