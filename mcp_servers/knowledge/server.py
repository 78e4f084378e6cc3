"""The knowledge server: an organization's notes — create, read, update, delete, list, search, tag.

Every tool acts for the organization in the request's ``_meta["io.omni/org"]`` (see
``mcp_servers.common.current_org``); a note of another organization answers "note not found", the
same as a note that does not exist, so ids never leak across tenants.
"""

from __future__ import annotations

from typing import Annotated

from django.db.models import Q
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

from mcp_servers import quotas
from mcp_servers.common import current_org
from mcp_servers.knowledge import search
from mcp_servers.knowledge.schemas import (
    MAX_TAGS,
    Body,
    DeletedNote,
    NoteId,
    NoteList,
    NoteOut,
    NoteSummary,
    SearchMatch,
    SearchResult,
    Tag,
    TagList,
    Title,
)
from mcp_servers.models import Note
from mcp_servers.workers import run as run_in_worker
from mcp_servers.workers import warm_up

VERSION = "1.0.0"
INSTRUCTIONS = (
    "Notes of your organization. create_note returns the note's id; get/update/delete/tag_note take "
    "it. list_notes pages through notes (newest first, optional tag filter); search_notes finds notes "
    "by words in the title (weighted) and body and returns ranked matches with snippets."
)
# search_notes ranks at most this many candidate notes (the most recently updated ones).
MAX_SEARCH_CANDIDATES = 5000
# Candidates go to the worker pool in batches of about this many characters of title and body.
SEARCH_BATCH_CHARS = 2_000_000

_READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
_WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)


def normalize_tags(tags: list[str]) -> list[str]:
    """Lower-cased, de-duplicated tags in their first order."""
    seen: dict[str, None] = {}
    for tag in tags:
        seen.setdefault(tag.strip().lower(), None)
    return list(seen)


def _clean_title(title: str) -> str:
    if not title.strip():
        raise ToolError("title must not be blank")
    return title.strip()


def _check_tag_count(tags: list[str]) -> None:
    if len(tags) > MAX_TAGS:
        raise ToolError(f"a note can have at most {MAX_TAGS} tags (this change gives it {len(tags)})")


def _note_out(note: Note) -> NoteOut:
    return NoteOut(
        id=note.public_id,
        title=note.title,
        body=note.body,
        tags=list(note.tags),
        created_at=note.created_at,
        updated_at=note.updated_at,
    )


def _tag_filter(tag: str) -> Q:
    # Tags are normalised to [a-z0-9_.-], so the quoted tag occurs in the stored JSON list's text
    # exactly when it is one of its elements: one lookup that SQLite and PostgreSQL both run.
    return Q(tags__icontains=f'"{tag.lower()}"')


async def _get_note(org: str, note_id: object) -> Note:
    try:
        return await Note.objects.for_org(org).aget(public_id=note_id)
    except Note.DoesNotExist:
        raise ToolError(f"note not found: {note_id}") from None


async def create_note(
    title: Title,
    ctx: Context,
    body: Body = "",
    tags: TagList | None = None,
) -> NoteOut:
    """Create a note in your organization and return it (with its id)."""
    org = current_org(ctx)
    clean_tags = normalize_tags(tags or [])
    clean_title = _clean_title(title)
    await quotas.check_notes(org, "create_note", size=quotas.note_bytes(clean_title, body))
    note = await Note.objects.acreate(org_slug=org, title=clean_title, body=body, tags=clean_tags)
    return _note_out(note)


async def get_note(id: NoteId, ctx: Context) -> NoteOut:
    """Return one note of your organization by id."""
    return _note_out(await _get_note(current_org(ctx), id))


async def update_note(
    id: NoteId,
    ctx: Context,
    title: Title | None = None,
    body: Body | None = None,
    tags: Annotated[
        TagList | None, Field(description="Replaces all tags when given (use tag_note to add/remove)")
    ] = None,
) -> NoteOut:
    """Change a note's title, body and/or tags (only the fields given) and return it."""
    org = current_org(ctx)
    if title is None and body is None and tags is None:
        raise ToolError("nothing to update: give at least one of title, body, tags")
    note = await _get_note(org, id)
    fields = ["updated_at"]
    if title is not None:
        note.title = _clean_title(title)
        fields.append("title")
    if body is not None:
        note.body = body
        fields.append("body")
    if tags is not None:
        note.tags = normalize_tags(tags)
        fields.append("tags")
    if title is not None or body is not None:
        size = quotas.note_bytes(note.title, note.body)
        await quotas.check_notes(org, "update_note", size=size, replacing=note.public_id)
    await note.asave(update_fields=fields)
    return _note_out(note)


async def delete_note(id: NoteId, ctx: Context) -> DeletedNote:
    """Delete a note of your organization for good."""
    org = current_org(ctx)
    deleted, _ = await Note.objects.for_org(org).filter(public_id=id).adelete()
    if not deleted:
        raise ToolError(f"note not found: {id}")
    return DeletedNote(id=id, deleted=True)


async def list_notes(
    ctx: Context,
    tag: Annotated[Tag | None, Field(description="Only notes with this tag")] = None,
    limit: Annotated[int, Field(ge=1, le=100, description="Page size (1-100)")] = 20,
    offset: Annotated[int, Field(ge=0, le=1_000_000, description="Notes to skip")] = 0,
) -> NoteList:
    """List your organization's notes, most recently updated first, optionally only those with a tag."""
    org = current_org(ctx)
    notes = Note.objects.for_org(org)
    if tag is not None:
        notes = notes.filter(_tag_filter(tag))
    total = await notes.acount()
    page = [
        NoteSummary(
            id=note.public_id,
            title=note.title,
            tags=list(note.tags),
            preview=note.body[:160],
            created_at=note.created_at,
            updated_at=note.updated_at,
        )
        async for note in notes.order_by("-updated_at", "-id")[offset : offset + limit]
    ]
    return NoteList(notes=page, total=total, limit=limit, offset=offset)


async def search_notes(
    query: Annotated[str, Field(min_length=1, max_length=200, description="Words to look for")],
    ctx: Context,
    tag: Annotated[Tag | None, Field(description="Only search notes with this tag")] = None,
    limit: Annotated[int, Field(ge=1, le=50, description="Most matches to return (1-50)")] = 10,
) -> SearchResult:
    """Full-text search of your organization's notes, best matches first.

    Each occurrence of a query word counts 3 in the title and 1 in the body; ties go to the most
    recently updated note.
    """
    org = current_org(ctx)
    terms = search.query_terms(query)
    if not terms:
        raise ToolError("the query has no words to search for (letters or digits)")
    prefilter = Q()
    for term in terms:
        prefilter |= Q(title__icontains=term) | Q(body__icontains=term)
    candidates = Note.objects.for_org(org).filter(prefilter)
    if tag is not None:
        candidates = candidates.filter(_tag_filter(tag))
    # The database work stays here (async ORM); the scoring runs in the worker pool, in batches.
    notes: list[Note] = []
    batch: list[tuple[int, str, str]] = []
    batch_chars = 0
    scored: list[tuple[int, search.Scored]] = []
    async for note in candidates.only("public_id", "title", "body", "tags", "updated_at").order_by(
        "-updated_at", "-id"
    )[:MAX_SEARCH_CANDIDATES]:
        batch.append((len(notes), note.title, note.body))
        batch_chars += len(note.title) + len(note.body)
        note.body = ""  # kept only in the batch: the result needs no body
        notes.append(note)
        if batch_chars >= SEARCH_BATCH_CHARS:
            scored += await run_in_worker(search.score_many, batch, terms, label="search_notes")
            batch, batch_chars = [], 0
    if batch:
        scored += await run_in_worker(search.score_many, batch, terms, label="search_notes")
    ranked: list[tuple[float, SearchMatch]] = []
    for position, result in scored:
        note = notes[position]
        match = SearchMatch(
            id=note.public_id,
            title=note.title,
            tags=list(note.tags),
            score=result.score,
            matched_terms=result.matched_terms,
            snippet=result.snippet,
            updated_at=note.updated_at,
        )
        ranked.append((result.score, match))
    # Stable sort: equal scores keep the newest-first order of the query.
    ranked.sort(key=lambda item: item[0], reverse=True)
    return SearchResult(query=query, terms=terms, matches=[m for _, m in ranked[:limit]], total=len(ranked))


async def tag_note(
    id: NoteId,
    ctx: Context,
    add: Annotated[list[Tag], Field(max_length=MAX_TAGS, description="Tags to add")] = [],  # noqa: B006
    remove: Annotated[list[Tag], Field(max_length=MAX_TAGS, description="Tags to remove")] = [],  # noqa: B006
) -> NoteOut:
    """Add and/or remove tags on a note (removals are applied after additions) and return it."""
    org = current_org(ctx)
    if not add and not remove:
        raise ToolError("nothing to do: give tags to add and/or remove")
    note = await _get_note(org, id)
    removed = set(normalize_tags(remove))
    tags = [t for t in normalize_tags([*note.tags, *add]) if t not in removed]
    _check_tag_count(tags)
    note.tags = tags
    await note.asave(update_fields=["tags", "updated_at"])
    return _note_out(note)


def build_server() -> MCPServer:
    """A new knowledge server instance (cheap: no I/O until a tool runs)."""
    warm_up()  # the tool worker pool starts in the background, before the first call
    server = MCPServer(name="knowledge", version=VERSION, instructions=INSTRUCTIONS)
    server.add_tool(create_note, annotations=_WRITE)
    server.add_tool(get_note, annotations=_READ)
    server.add_tool(
        update_note,
        annotations=ToolAnnotations(destructive_hint=True, idempotent_hint=True, open_world_hint=False),
    )
    server.add_tool(delete_note, annotations=ToolAnnotations(destructive_hint=True, open_world_hint=False))
    server.add_tool(list_notes, annotations=_READ)
    server.add_tool(search_notes, annotations=_READ)
    server.add_tool(tag_note, annotations=ToolAnnotations(idempotent_hint=True, open_world_hint=False))
    return server
