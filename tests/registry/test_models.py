"""Validation, uniqueness and after-commit change notification of the registry models."""

import uuid
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test import override_settings

from omni.registry.models import (
    CredentialUnreadable,
    Prompt,
    Resource,
    ServerConnection,
)
from tests.factories import (
    PromptFactory,
    ResourceFactory,
    ResourceTemplateFactory,
    ServerConnectionFactory,
)


@pytest.fixture
def notified(django_capture_on_commit_callbacks):
    """Run on-commit callbacks at the end of the block and record registry_changed calls."""

    class Recorder:
        def __init__(self):
            self.mock = mock.Mock()

        def __enter__(self):
            self._patch = mock.patch("omni.gateway.notify.registry_changed", self.mock)
            self._patch.start()
            self._capture = django_capture_on_commit_callbacks(execute=True)
            self._capture.__enter__()
            return self

        def __exit__(self, *exc):
            self._capture.__exit__(*exc)
            self._patch.stop()

        @property
        def calls(self):
            return [c.args for c in self.mock.call_args_list]

    return Recorder()


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


# --------------------------------------------------------------------------- notification
def test_nothing_is_sent_before_commit(world, django_capture_on_commit_callbacks):
    with mock.patch("omni.gateway.notify.registry_changed") as registry_changed:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            PromptFactory(organization=world.acme)
        registry_changed.assert_not_called()
        assert len(callbacks) == 2  # the catalogue notification, then the audit event (omni.audit)
        callbacks[0]()
        registry_changed.assert_called_once_with(world.acme.pk, {"prompts"})


@pytest.mark.parametrize(
    "factory, kinds",
    [
        (PromptFactory, {"prompts"}),
        (ResourceFactory, {"resources"}),
        (ResourceTemplateFactory, {"resources"}),
        (ServerConnectionFactory, {"tools"}),
    ],
)
def test_save_and_delete_notify_the_right_org_and_kinds(world, notified, factory, kinds):
    with notified:
        item = factory(organization=world.acme)
    assert notified.calls == [(world.acme.pk, kinds)]
    with notified:
        item.title = "changed"
        item.save()
    assert notified.calls[-1] == (world.acme.pk, kinds)
    with notified:
        item.delete()
    assert notified.calls[-1] == (world.acme.pk, kinds)
    with notified:
        factory(organization=None)
    assert notified.calls[-1] == (None, kinds)


def test_moving_an_item_notifies_both_orgs(world, notified):
    prompt = PromptFactory(organization=world.acme)
    prompt = Prompt.objects.get(pk=prompt.pk)
    with notified:
        prompt.organization = world.globex
        prompt.save()
    assert sorted(notified.calls) == sorted([(world.acme.pk, {"prompts"}), (world.globex.pk, {"prompts"})])


def test_bulk_queryset_writes_notify_too(world, notified):
    ServerConnectionFactory(organization=world.acme)
    ServerConnectionFactory(organization=world.globex)
    both = ServerConnection.objects.filter(organization__in=[world.acme, world.globex])
    with notified:
        assert both.update(enabled=False) == 2
    assert sorted(notified.calls) == sorted([(world.acme.pk, {"tools"}), (world.globex.pk, {"tools"})])
    notified.mock.reset_mock()
    with notified:
        ServerConnection.objects.owned_by(world.acme).delete()
    assert notified.calls == [(world.acme.pk, {"tools"})]
    notified.mock.reset_mock()
    with notified:
        Prompt.objects.bulk_create([PromptFactory.build(organization=world.globex)])
    assert notified.calls == [(world.globex.pk, {"prompts"})]
    notified.mock.reset_mock()
    with notified:
        Prompt.objects.owned_by(world.acme).update(title="nothing matches")  # no rows: no news
        Prompt.objects.owned_by(world.acme).delete()
    assert notified.calls == []


def test_rolled_back_changes_are_not_announced(world, notified):
    with notified:
        try:
            with transaction.atomic():
                PromptFactory(organization=world.acme)
                raise RuntimeError("abort")
        except RuntimeError:
            pass
    assert notified.calls == []


# --------------------------------------------------------------------------- uniqueness
@pytest.mark.parametrize(
    "factory, field, value",
    [
        (PromptFactory, "name", "dup"),
        (ResourceFactory, "uri", "dup://x"),
        (ResourceTemplateFactory, "name", "dup"),
        (ServerConnectionFactory, "name", "dup"),
    ],
)
def test_keys_are_unique_per_org_and_among_global_rows(world, factory, field, value):
    value = value + uuid.uuid4().hex[:6]
    factory(**{field: value})
    factory(**{field: value}, organization=world.acme)  # an override is fine
    factory(**{field: value}, organization=world.globex)
    with pytest.raises(IntegrityError), transaction.atomic():
        factory(**{field: value}, organization=world.acme)
    with pytest.raises(IntegrityError), transaction.atomic():
        factory(**{field: value})  # NULL organization must not let global duplicates in
    duplicate = factory.build(**{field: value})
    with pytest.raises(ValidationError):
        duplicate.full_clean()


# --------------------------------------------------------------------------- validation
def test_prompt_validation(world):
    good = PromptFactory.build(name=unique("ok"))
    good.full_clean()
    bad_cases = [
        {"name": "has space"},
        {"arguments": [{"name": "x"}, {"name": "x"}]},
        {"arguments": [{"name": "x", "required": "yes"}]},
        {"arguments": [{"name": "1x"}]},
        {"messages": []},
        {"messages": [{"role": "system", "content": "hi"}]},
        {"messages": [{"role": "user", "content": "uses {undeclared}"}]},
    ]
    for changes in bad_cases:
        prompt = PromptFactory.build(**changes)
        with pytest.raises(ValidationError):
            prompt.full_clean()


def test_resource_has_exactly_one_of_text_or_blob(world):
    ResourceFactory.build(uri=f"a://{uuid.uuid4().hex}", text="t").full_clean()
    ResourceFactory.build(uri=f"a://{uuid.uuid4().hex}", text="", blob=b"\x89PNG").full_clean()
    for text, blob in (("", None), ("t", b"b")):
        with pytest.raises(ValidationError):
            ResourceFactory.build(text=text, blob=blob).full_clean()
        with pytest.raises(IntegrityError), transaction.atomic():
            ResourceFactory(text=text, blob=blob)  # the database refuses it too
    with pytest.raises(ValidationError):
        ResourceFactory.build(uri="no-scheme").full_clean()


def test_binary_resource_reads_back_as_bytes(world):
    resource = ResourceFactory(text="", blob=b"\x00\x01binary", mime_type="application/octet-stream")
    resource = Resource.objects.get(pk=resource.pk)
    assert resource.is_binary and resource.content_bytes() == b"\x00\x01binary" and resource.size == 8


def test_resource_size_limit(world, monkeypatch):
    monkeypatch.setattr("omni.registry.models.RESOURCE_MAX_BYTES", 10)
    ResourceFactory.build(text="x" * 10).full_clean()
    with pytest.raises(ValidationError, match="limit is 10"):
        ResourceFactory.build(text="é" * 6).full_clean()  # 12 bytes in UTF-8


def test_resource_template_validation(world):
    ResourceTemplateFactory.build(name=unique("t")).full_clean()
    for changes in (
        {"uri_template": "notes://fixed"},  # no variable
        {"uri_template": "notes://{a,b}"},
        {"uri_template": "{topic}"},  # no scheme
        {"text_template": "{other}"},
    ):
        with pytest.raises(ValidationError):
            ResourceTemplateFactory.build(**changes).full_clean()


@pytest.mark.parametrize(
    "fields, valid",
    [
        ({"transport": "inprocess", "target": "knowledge"}, True),
        ({"transport": "inprocess", "target": "nope"}, False),
        ({"transport": "streamable_http", "url": "https://mcp.example.com/mcp"}, True),
        ({"transport": "streamable_http", "url": ""}, False),
        ({"transport": "sse", "url": "ftp://example.com/sse"}, False),
        ({"transport": "stdio", "command": "npx", "args": ["-y", "server"]}, True),
        ({"transport": "stdio", "command": " "}, False),
        ({"transport": "bogus"}, False),
        ({"name": "has__double"}, False),
        ({"name": "Upper"}, False),
        ({"name": "trailing_"}, False),
        ({"env": {"A": 1}}, False),
        ({"timeout_seconds": 0}, False),
    ],
)
def test_server_connection_validation(world, fields, valid):
    fields = {"name": unique("srv").lower(), "target": "utilities", **fields}
    server = ServerConnectionFactory.build(**fields)
    if valid:
        server.full_clean()
    else:
        with pytest.raises(ValidationError):
            server.full_clean()


def test_org_stdio_servers_need_an_explicit_setting(world):
    server = ServerConnectionFactory.build(organization=world.acme, transport="stdio", command="sh")
    with pytest.raises(ValidationError, match="global"):
        server.full_clean()
    with override_settings(MCP_ALLOW_ORG_STDIO=True):
        server.full_clean()


def test_credential_is_encrypted_at_rest_and_guarded(world):
    server = ServerConnectionFactory(credential="s3cret-token")
    with connection.cursor() as cursor:
        cursor.execute("SELECT credential FROM registry_serverconnection WHERE id = %s", [server.pk])
        stored = cursor.fetchone()[0]
    assert "s3cret-token" not in stored
    assert ServerConnection.objects.get(pk=server.pk).bearer_token() == "s3cret-token"
    # Under another key the field hands back ciphertext; bearer_token refuses to use it.
    unreadable = ServerConnection(name="x", credential=stored)
    with pytest.raises(CredentialUnreadable):
        unreadable.bearer_token()


def test_tool_allowlist(world):
    assert ServerConnectionFactory.build().allows_tool("anything")
    limited = ServerConnectionFactory.build(tool_allowlist=["search_notes"])
    assert limited.allows_tool("search_notes") and not limited.allows_tool("delete_note")


def test_deferred_loading_does_not_announce_a_global_change(world, notified):
    prompt = PromptFactory(organization=world.acme)
    partial = Prompt.objects.only("title").get(pk=prompt.pk)
    with notified:
        partial.title = "new"
        partial.save(update_fields=["title"])
    assert notified.calls == [(world.acme.pk, {"prompts"})]
