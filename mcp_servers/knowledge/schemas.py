"""Argument types and results of the knowledge server's tools."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

MAX_TAGS = 20

Tag = Annotated[
    str,
    Field(
        min_length=1,
        max_length=40,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="A tag: letters, digits, '-', '_' or '.', stored lower-case",
    ),
]
NoteId = Annotated[uuid.UUID, Field(description="The note's id (a UUID, as returned by create_note)")]
Title = Annotated[str, Field(min_length=1, max_length=200, description="Note title (1-200 characters)")]
Body = Annotated[
    str, Field(max_length=50_000, description="Note body, plain text or Markdown (<= 50,000 chars)")
]
TagList = Annotated[list[Tag], Field(max_length=MAX_TAGS, description=f"Tags (at most {MAX_TAGS})")]


class NoteOut(BaseModel):
    id: uuid.UUID = Field(description="The note's id")
    title: str
    body: str
    tags: list[str]
    created_at: datetime
    updated_at: datetime


class NoteSummary(BaseModel):
    id: uuid.UUID
    title: str
    tags: list[str]
    preview: str = Field(description="The first 160 characters of the body")
    created_at: datetime
    updated_at: datetime


class NoteList(BaseModel):
    notes: list[NoteSummary]
    total: int = Field(description="How many notes match (before limit/offset)")
    limit: int
    offset: int


class DeletedNote(BaseModel):
    id: uuid.UUID
    deleted: bool


class SearchMatch(BaseModel):
    id: uuid.UUID
    title: str
    tags: list[str]
    score: float = Field(description="Relevance: term frequency, title hits weighted x3")
    matched_terms: list[str]
    snippet: str = Field(description="Body (or title) text around the first matched term")
    updated_at: datetime


class SearchResult(BaseModel):
    query: str
    terms: list[str] = Field(description="The query terms searched for (lower-cased, de-duplicated)")
    matches: list[SearchMatch]
    total: int = Field(description="How many notes matched at least one term")
