"""The knowledge server's seven tools through the SDK client, scoped per organization."""

from __future__ import annotations

import uuid

from mcp_servers.common import MISSING_ORG_MESSAGE
from mcp_servers.models import Note

from .conftest import ToolCaller


async def make(knowledge: ToolCaller, title: str, body: str = "", tags=(), org: str | None = None) -> dict:
    return await knowledge.ok(
        "create_note", as_org=org or knowledge.org, title=title, body=body, tags=list(tags)
    )


def org_notes(org: str):
    return Note.objects.filter(org_slug=org)


async def test_create_and_get_note(knowledge: ToolCaller, acme: str):
    note = await make(knowledge, "  Release plan ", "Ship v2 on Friday.", ["Planning", "q3", "planning"])
    assert note["title"] == "Release plan"
    assert note["body"] == "Ship v2 on Friday."
    assert note["tags"] == ["planning", "q3"]  # lower-cased, de-duplicated, in order
    uuid.UUID(note["id"])

    got = await knowledge.ok("get_note", id=note["id"])
    assert got == note
    stored = await Note.objects.aget(public_id=note["id"])
    assert stored.org_slug == acme


async def test_create_note_rejects_bad_arguments(knowledge: ToolCaller, acme: str):
    assert "title" in await knowledge.error("create_note", title="")
    assert "title must not be blank" in await knowledge.error("create_note", title="   ")
    assert "title" in await knowledge.error("create_note", title="x" * 201)
    assert "tags" in await knowledge.error("create_note", title="t", tags=["has space"])
    assert "tags" in await knowledge.error("create_note", title="t", tags=[f"t{i}" for i in range(21)])
    assert await org_notes(acme).acount() == 0


async def test_every_tool_needs_an_organization(knowledge: ToolCaller):
    note = await make(knowledge, "Mine")
    calls = {
        "create_note": {"title": "x"},
        "get_note": {"id": note["id"]},
        "update_note": {"id": note["id"], "title": "y"},
        "delete_note": {"id": note["id"]},
        "list_notes": {},
        "search_notes": {"query": "mine"},
        "tag_note": {"id": note["id"], "add": ["a"]},
    }
    for name, arguments in calls.items():
        message = await knowledge.error(name, as_org=None, **arguments)
        assert MISSING_ORG_MESSAGE in message, name
    assert "organization slug" in await knowledge.error("list_notes", as_org="bad slug!")
    assert (await Note.objects.aget(public_id=note["id"])).title == "Mine"


async def test_other_organizations_cannot_see_or_touch_a_note(knowledge: ToolCaller, globex: str):
    note = await make(knowledge, "Acme secret", "launch codes", ["secret"])
    note_id = note["id"]
    for name, extra in [
        ("get_note", {}),
        ("update_note", {"title": "pwned"}),
        ("delete_note", {}),
        ("tag_note", {"add": ["pwned"]}),
    ]:
        message = await knowledge.error(name, as_org=globex, id=note_id, **extra)
        assert f"note not found: {note_id}" in message, name
    assert (await knowledge.ok("list_notes", as_org=globex))["total"] == 0
    assert (await knowledge.ok("list_notes", as_org=globex, tag="secret"))["notes"] == []
    assert (await knowledge.ok("search_notes", as_org=globex, query="launch codes"))["matches"] == []
    # ...and the note is unchanged for its owner.
    assert await knowledge.ok("get_note", id=note_id) == note


async def test_unknown_and_malformed_ids(knowledge: ToolCaller):
    missing = str(uuid.uuid4())
    assert f"note not found: {missing}" in await knowledge.error("get_note", id=missing)
    assert "id" in await knowledge.error("get_note", id="not-a-uuid")


async def test_update_note_changes_only_given_fields(knowledge: ToolCaller):
    note = await make(knowledge, "Draft", "old body", ["a"])
    updated = await knowledge.ok("update_note", id=note["id"], body="new body")
    assert (updated["title"], updated["body"], updated["tags"]) == ("Draft", "new body", ["a"])
    assert updated["updated_at"] >= note["updated_at"]
    updated = await knowledge.ok("update_note", id=note["id"], title="Final", tags=["B", "c"])
    assert (updated["title"], updated["body"], updated["tags"]) == ("Final", "new body", ["b", "c"])
    assert "nothing to update" in await knowledge.error("update_note", id=note["id"])
    assert await knowledge.ok("get_note", id=note["id"]) == updated


async def test_delete_note(knowledge: ToolCaller, acme: str):
    note = await make(knowledge, "Temporary")
    assert await knowledge.ok("delete_note", id=note["id"]) == {"id": note["id"], "deleted": True}
    assert "note not found" in await knowledge.error("get_note", id=note["id"])
    assert "note not found" in await knowledge.error("delete_note", id=note["id"])
    assert await org_notes(acme).acount() == 0


async def test_list_notes_pages_newest_first_and_filters_by_tag(knowledge: ToolCaller, globex: str):
    for i in range(5):
        await make(knowledge, f"Note {i}", "x" * 300, ["even" if i % 2 == 0 else "odd", "all"])
    await make(knowledge, "Globex note", tags=["even"], org=globex)

    page = await knowledge.ok("list_notes", limit=2)
    assert page["total"] == 5 and (page["limit"], page["offset"]) == (2, 0)
    assert [n["title"] for n in page["notes"]] == ["Note 4", "Note 3"]
    assert len(page["notes"][0]["preview"]) == 160
    page = await knowledge.ok("list_notes", limit=2, offset=4)
    assert [n["title"] for n in page["notes"]] == ["Note 0"]

    even = await knowledge.ok("list_notes", tag="EVEN")
    assert even["total"] == 3
    assert [n["title"] for n in even["notes"]] == ["Note 4", "Note 2", "Note 0"]
    # "all" must not match a tag that merely contains it, nor "ev" a prefix.
    assert (await knowledge.ok("list_notes", tag="al"))["total"] == 0
    assert (await knowledge.ok("list_notes", tag="ev"))["total"] == 0

    assert "limit" in await knowledge.error("list_notes", limit=0)
    assert "limit" in await knowledge.error("list_notes", limit=101)
    assert "offset" in await knowledge.error("list_notes", offset=-1)


async def test_search_ranks_title_hits_above_body_hits(knowledge: ToolCaller, globex: str):
    body_once = await make(knowledge, "Groceries", "Buy milk and a Python book for the trip.")
    title = await make(knowledge, "Python tips", "Use list comprehensions.")
    body_twice = await make(knowledge, "Snakes", "The python is a snake. A python can be long.")
    await make(knowledge, "Unrelated", "Nothing to see here: pythonic is not the word.")
    await make(knowledge, "Globex python", "python python python", org=globex)

    result = await knowledge.ok("search_notes", query="Python")
    assert result["terms"] == ["python"]
    assert [m["id"] for m in result["matches"]] == [title["id"], body_twice["id"], body_once["id"]]
    assert [m["score"] for m in result["matches"]] == [3.0, 2.0, 1.0]
    assert result["total"] == 3
    assert "Python book" in result["matches"][2]["snippet"]
    assert result["matches"][0]["matched_terms"] == ["python"]


async def test_search_sums_terms_and_filters(knowledge: ToolCaller):
    both = await make(knowledge, "Budget review", "The budget for the marketing review.", ["finance"])
    one = await make(knowledge, "Marketing", "Campaign ideas.", ["ideas"])
    result = await knowledge.ok("search_notes", query="marketing budget budget")
    assert result["terms"] == ["marketing", "budget"]
    assert [m["id"] for m in result["matches"]] == [both["id"], one["id"]]
    assert result["matches"][0]["score"] == 1 + 3 + 1  # marketing (body) + budget (title, body)
    assert result["matches"][0]["matched_terms"] == ["marketing", "budget"]

    tagged = await knowledge.ok("search_notes", query="marketing", tag="ideas")
    assert [m["id"] for m in tagged["matches"]] == [one["id"]]
    limited = await knowledge.ok("search_notes", query="marketing", limit=1)
    assert len(limited["matches"]) == 1 and limited["total"] == 2

    assert (await knowledge.ok("search_notes", query="zebra"))["matches"] == []
    assert "no words" in await knowledge.error("search_notes", query="?!")
    assert "query" in await knowledge.error("search_notes", query="")


async def test_search_snippet_is_centered_on_the_match(knowledge: ToolCaller):
    long_body = "filler " * 100 + "the needle is here " + "tail " * 100
    await make(knowledge, "Haystack", long_body)
    match = (await knowledge.ok("search_notes", query="needle"))["matches"][0]
    assert "needle" in match["snippet"]
    assert match["snippet"].startswith("…") and match["snippet"].endswith("…")
    assert len(match["snippet"]) <= 170


async def test_tag_note_adds_and_removes(knowledge: ToolCaller):
    note = await make(knowledge, "Tagged", tags=["a", "b"])
    tagged = await knowledge.ok("tag_note", id=note["id"], add=["C", "a"], remove=["b"])
    assert tagged["tags"] == ["a", "c"]
    tagged = await knowledge.ok("tag_note", id=note["id"], remove=["missing"])
    assert tagged["tags"] == ["a", "c"]
    assert "nothing to do" in await knowledge.error("tag_note", id=note["id"])
    too_many = [f"t{i}" for i in range(19)]
    assert "at most 20 tags" in await knowledge.error("tag_note", id=note["id"], add=too_many)
    assert (await knowledge.ok("get_note", id=note["id"]))["tags"] == ["a", "c"]
