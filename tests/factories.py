"""factory-boy factories for every model: tenancy, registry, the built-in servers' data, the
playground (test runs, scenario runs, uploaded scenarios) and the audit log.

``ApiKeyFactory`` goes through ``create_api_key``; the raw key is on the instance as ``raw_key``
(``ApiKeyFactory.create_with_raw()`` returns both).
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from mcp_servers.models import Dataset, Note
from omni.audit.models import AuditDeadLetter, AuditEvent, AuditSource
from omni.audit.services import append, build_event
from omni.gateway.models import SigningKey
from omni.playground.models import ScenarioRun, TestRun, UploadedScenario
from omni.privacy.models import DataKey
from omni.registry.access_models import AccessRule
from omni.registry.models import Prompt, Resource, ResourceTemplate, ServerConnection
from omni.registry.pins import ToolPin
from omni.tenants.models import ApiKey, Invitation, Membership, Organization, Role, hash_invitation_token
from omni.tenants.services import create_api_key

TEST_PASSWORD = "pw-for-tests"


@functools.cache
def _test_password_hash() -> str:
    """Hashed once per process: the default hasher is slow on purpose (about 0.5 s a user)."""
    return make_password(TEST_PASSWORD)


class UserFactory(factory.django.DjangoModelFactory):
    """Users log in with ``TEST_PASSWORD``."""

    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.LazyFunction(_test_password_hash)


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"org{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Role.MEMBER


class InvitationFactory(factory.django.DjangoModelFactory):
    """A pending invitation; its raw token is ``token`` (a test can open ``/invite/<token>/``)."""

    class Meta:
        model = Invitation
        exclude = ("token",)

    organization = factory.SubFactory(OrganizationFactory)
    email = factory.Sequence(lambda n: f"invitee{n}@example.org")
    role = Role.MEMBER
    token = factory.LazyFunction(lambda: f"test-invitation-{uuid.uuid4().hex}")
    token_hash = factory.LazyAttribute(lambda o: hash_invitation_token(o.token))
    expires_at = factory.LazyFunction(lambda: timezone.now() + timezone.timedelta(hours=72))


class ApiKeyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApiKey

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"key{n}")
    scopes = None  # all scopes
    expires_at = None
    created_by = None

    @classmethod
    def _create(cls, model_class, *args, **kwargs) -> ApiKey:
        key, raw = create_api_key(kwargs.pop("organization"), **kwargs)
        key.raw_key = raw
        return key

    @classmethod
    def create_with_raw(cls, **kwargs) -> tuple[ApiKey, str]:
        key = cls.create(**kwargs)
        return key, key.raw_key


class PromptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prompt

    organization = None  # global
    name = factory.Sequence(lambda n: f"prompt_{n}")
    title = factory.LazyAttribute(lambda p: p.name.replace("_", " ").title())
    description = "A prompt for tests."
    arguments = factory.LazyFunction(
        lambda: [
            {"name": "topic", "description": "What about", "required": True},
            {"name": "tone", "description": "How", "required": False},
        ]
    )
    messages = factory.LazyFunction(
        lambda: [
            {"role": "user", "content": "Tell me about {topic} in a {tone} tone."},
            {"role": "assistant", "content": "Sure: {topic}."},
        ]
    )


class ResourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Resource

    organization = None
    uri = factory.Sequence(lambda n: f"docs://tests/{n}")
    name = factory.Sequence(lambda n: f"resource-{n}")
    mime_type = "text/plain"
    text = "hello"
    blob = None


class ResourceTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ResourceTemplate

    organization = None
    name = factory.Sequence(lambda n: f"template-{n}")
    uri_template = factory.Sequence(lambda n: f"notes{n}://{{topic}}/summary")
    mime_type = "text/markdown"
    text_template = "Summary of {topic}"


class ServerConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ServerConnection

    organization = None
    name = factory.Sequence(lambda n: f"server{n}")
    transport = ServerConnection.Transport.INPROCESS
    target = "utilities"
    enabled = True


class World:
    """A fixed small world: acme (owner, viewer), globex (member), an outsider in no organization.

    Slugs carry a unique suffix so that rows committed by other (live) tests never collide.
    """

    def __init__(self) -> None:
        import uuid

        suffix = uuid.uuid4().hex[:8]
        self.acme = OrganizationFactory(slug=f"acme-{suffix}", name="Acme")
        self.globex = OrganizationFactory(slug=f"globex-{suffix}", name="Globex")
        self.owner = UserFactory(username=f"owner-{suffix}")
        self.viewer = UserFactory(username=f"viewer-{suffix}")
        self.member = UserFactory(username=f"member-{suffix}")
        self.outsider = UserFactory(username=f"outsider-{suffix}")
        MembershipFactory(user=self.owner, organization=self.acme, role=Role.OWNER)
        MembershipFactory(user=self.viewer, organization=self.acme, role=Role.VIEWER)
        MembershipFactory(user=self.member, organization=self.globex, role=Role.MEMBER)


# --------------------------------------------------------------------------- the built-in servers' data
class NoteFactory(factory.django.DjangoModelFactory):
    """A knowledge-server note; ``org_slug`` is the organization's slug (no foreign key)."""

    class Meta:
        model = Note

    org_slug = factory.Sequence(lambda n: f"org{n}")
    title = factory.Sequence(lambda n: f"Note {n}")
    body = factory.Faker("paragraph")
    tags = factory.LazyFunction(lambda: ["tests"])


class DatasetFactory(factory.django.DjangoModelFactory):
    """An analytics-server dataset: two number columns and a string column, three rows."""

    class Meta:
        model = Dataset
        django_get_or_create = ("org_slug", "name")

    org_slug = factory.Sequence(lambda n: f"org{n}")
    name = factory.Sequence(lambda n: f"dataset-{n}")
    columns = factory.LazyFunction(
        lambda: [
            {"name": "region", "type": "string"},
            {"name": "units", "type": "number"},
            {"name": "revenue", "type": "number"},
        ]
    )
    rows = factory.LazyFunction(lambda: [["north", 10, 100], ["south", 5, 40], ["east", 8, 70]])


# --------------------------------------------------------------------------- registry: tool pins
class ToolPinFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ToolPin

    connection = factory.SubFactory(ServerConnectionFactory)
    tool_name = factory.Sequence(lambda n: f"tool_{n}")
    approved_definition = factory.LazyAttribute(
        lambda p: {"name": p.tool_name, "inputSchema": {"type": "object"}}
    )
    approved_hash = factory.LazyAttribute(
        lambda p: hashlib.sha256(json.dumps(p.approved_definition, sort_keys=True).encode()).hexdigest()
    )


# --------------------------------------------------------------------------- registry: access rules
class AccessRuleFactory(factory.django.DjangoModelFactory):
    """Deny the member role the tools matching ``pattern``."""

    class Meta:
        model = AccessRule

    organization = factory.SubFactory(OrganizationFactory)
    subject_type = AccessRule.SubjectType.ROLE
    role = Role.MEMBER
    kind = AccessRule.Kind.TOOL
    pattern = factory.Sequence(lambda n: f"utilities__tool_{n}")
    effect = AccessRule.Effect.DENY


# --------------------------------------------------------------------------- playground
class ScenarioRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ScenarioRun

    organization = factory.SubFactory(OrganizationFactory)
    username = "tests"
    trigger = ScenarioRun.Trigger.CLI
    name = "tests_scenario"
    origin = "inline"
    text = "name: tests_scenario\nsteps:\n  - {name: ping, operation: ping}\n"
    status = ScenarioRun.Status.PASSED
    total_steps = 1
    passed_steps = 1


class TestRunFactory(factory.django.DjangoModelFactory):
    """A stored tools/call of utilities__calculate that answered 14."""

    class Meta:
        model = TestRun

    organization = factory.SubFactory(OrganizationFactory)
    username = "tests"
    source = TestRun.Source.PLAYGROUND
    operation = "tools/call"
    target = "utilities__calculate"
    request = factory.LazyFunction(
        lambda: {
            "jsonrpc": "2.0",
            "method": "tools/call",
            "params": {"name": "utilities__calculate", "arguments": {"expression": "2*(3+4)"}},
            "protocol": "2026-07-28",
        }
    )
    response = factory.LazyFunction(
        lambda: {
            "content": [{"type": "text", "text": '{"expression": "2*(3+4)", "result": 14}'}],
            "structuredContent": {"expression": "2*(3+4)", "result": 14},
            "isError": False,
        }
    )
    outcome = TestRun.Outcome.OK
    duration_ms = 3.5


TestRunFactory.__test__ = False  # not a pytest test class despite its name


class UploadedScenarioFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UploadedScenario

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"uploaded_{n}")
    description = "An uploaded scenario for tests."
    text = factory.LazyAttribute(
        lambda s: f"name: {s.name}\ndescription: {s.description}\nsteps:\n  - {{name: t, operation: ping}}\n"
    )


# --------------------------------------------------------------------------- audit
class AuditEventFactory(factory.Factory):
    """An event appended to the hash chain through the audit service (the table is append-only)."""

    class Meta:
        model = AuditEvent

    action = "tests.event"
    organization = factory.SubFactory(OrganizationFactory)
    data = factory.LazyFunction(dict)

    @classmethod
    def _create(cls, model_class, *args, **kwargs) -> AuditEvent:
        return append(build_event(kwargs.pop("action"), **kwargs))

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        raise TypeError("audit events are only ever appended: use AuditEventFactory.create()")


# --------------------------------------------------------------------------- gateway: signing keys
class SigningKeyFactory(factory.django.DjangoModelFactory):
    """A request-signing key, **retired** by default: a live key would become the one that signs.
    Pass ``retired_at=None`` for an active key (and bump the signing-keys version if a server must see it).
    """

    class Meta:
        model = SigningKey

    key_id = factory.Sequence(lambda n: f"k-test{n:06d}")
    secret = factory.Faker("password", length=43, special_chars=False)
    retired_at = factory.LazyFunction(timezone.now)


class AuditSourceFactory(factory.django.DjangoModelFactory):
    """One process that spooled gateway audit events (written by the spool writer in real runs)."""

    class Meta:
        model = AuditSource

    name = factory.Sequence(lambda n: f"web-test-{n}")
    spooled = 3
    written = 3


class AuditDeadLetterFactory(factory.django.DjangoModelFactory):
    """A spooled audit event the database refused for good."""

    class Meta:
        model = AuditDeadLetter

    source = factory.Sequence(lambda n: f"web-test-{n}")
    source_seq = factory.Sequence(lambda n: n + 1)
    spool_id = factory.Sequence(lambda n: f"1700000000000-{n}")
    payload = '{"action": "mcp.tools_call"}'
    error = "value too long for type character varying(100)"


# --------------------------------------------------------------------------- privacy
class DataKeyFactory(factory.django.DjangoModelFactory):
    """An organization's live data key, made the way the application makes it (wrapped by the
    current master key)."""

    class Meta:
        model = DataKey

    organization = factory.SubFactory(OrganizationFactory)

    @classmethod
    def _create(cls, model_class, *args, **kwargs) -> DataKey:
        from omni.privacy.crypto import keys

        organization = kwargs.pop("organization")
        key_id, _ = keys.live_key(organization.pk if organization is not None else None)
        return DataKey.objects.get(key_id=key_id)


class OrgRetentionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "privacy.OrgRetention"

    organization = factory.SubFactory(OrganizationFactory)
    days = factory.LazyFunction(lambda: {"test_runs": 30})


class RetentionRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "privacy.RetentionRun"

    class_name = "test_runs"
    organization = factory.SubFactory(OrganizationFactory)
    org_slug = factory.LazyAttribute(lambda o: o.organization.slug)
    status = "done"
    cutoff = factory.LazyFunction(lambda: timezone.now() - timezone.timedelta(days=90))
    days = 90
    deleted = 3
    batches = 1
    finished_at = factory.LazyFunction(timezone.now)


class DataSubjectRequestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "privacy.DataSubjectRequest"

    kind = "export"
    subject_type = "user"
    user = factory.SubFactory(UserFactory)
    subject_label = factory.LazyAttribute(lambda o: f"user #{o.user.pk}")
    requested_by = factory.SelfAttribute("user")
    due_at = factory.LazyFunction(lambda: timezone.now() + timezone.timedelta(days=30))


# --------------------------------------------------------------------------- monitoring
class HeartbeatFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "monitoring.Heartbeat"

    kind = "web"
    host = "test-host"
    pid = factory.Sequence(lambda n: 100000 + n)
    key = factory.LazyAttribute(lambda o: f"{o.kind}:{o.host}:{o.pid}")
    started_at = factory.LazyFunction(timezone.now)
    last_seen = factory.LazyFunction(timezone.now)
    info = factory.LazyFunction(lambda: {"versions": {"python": "3.11"}, "requests": 0})


class ServerStatusFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "monitoring.ServerStatus"

    connection = factory.SubFactory(ServerConnectionFactory)
    organization = factory.SelfAttribute("connection.organization")
    state = "up"
    since = factory.LazyFunction(timezone.now)
    checked_at = factory.LazyFunction(timezone.now)
    latency_ms = 12.5


class StatusProbeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "monitoring.StatusProbe"

    connection = factory.SubFactory(ServerConnectionFactory)
    organization = factory.SelfAttribute("connection.organization")
    at = factory.LazyFunction(timezone.now)
    state = "up"
    latency_ms = 12.5


class StatusHourFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "monitoring.StatusHour"

    connection = factory.SubFactory(ServerConnectionFactory)
    organization = factory.SelfAttribute("connection.organization")
    hour = factory.LazyFunction(lambda: timezone.now().replace(minute=0, second=0, microsecond=0))
    probes = 60
    up = 59
    latency_ms_sum = 600.0


class _UsageFactory(factory.django.DjangoModelFactory):
    bucket = factory.LazyFunction(lambda: timezone.now().replace(second=0, microsecond=0))
    organization = factory.SubFactory(OrganizationFactory)
    server = "utilities"
    target = "utilities__calculate"
    method = "tools/call"
    outcome = "ok"
    calls = 3
    duration_us = 4500
    h05 = 3


class UsageMinuteFactory(_UsageFactory):
    class Meta:
        model = "monitoring.UsageMinute"


class UsageHourFactory(_UsageFactory):
    class Meta:
        model = "monitoring.UsageHour"


class UsageDayFactory(_UsageFactory):
    class Meta:
        model = "monitoring.UsageDay"


class NotificationChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "monitoring.NotificationChannel"

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"channel-{n}")
    kind = "email"
    emails = factory.LazyFunction(lambda: ["oncall@example.org"])


class AlertRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "monitoring.AlertRule"

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"rule-{n}")
    kind = "error_rate"
    params = factory.LazyFunction(lambda: {"window_minutes": 5})
    comparison = "gte"
    threshold = 5.0


class IncidentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "monitoring.Incident"

    rule = factory.SubFactory(AlertRuleFactory)
    organization = factory.SelfAttribute("rule.organization")
    rule_name = factory.SelfAttribute("rule.name")
    dedupe_key = factory.LazyAttribute(lambda o: f"rule:{o.rule.pk}")
    title = "error rate 12 % ≥ 5 %"
    evidence = factory.LazyFunction(lambda: {"value": 12.0, "calls": 100})


class DeliveryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "monitoring.Delivery"

    incident = factory.SubFactory(IncidentFactory)
    organization = factory.SelfAttribute("incident.organization")
    channel = factory.SubFactory(
        NotificationChannelFactory, organization=factory.SelfAttribute("..organization")
    )
    channel_name = factory.SelfAttribute("channel.name")
    event = "opened"
    status = "sent"
    response_code = 200


class MaintenanceWindowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "monitoring.MaintenanceWindow"

    rule = factory.SubFactory(AlertRuleFactory)
    organization = factory.SelfAttribute("rule.organization")
    starts_at = factory.LazyFunction(timezone.now)
    ends_at = factory.LazyFunction(lambda: timezone.now() + timezone.timedelta(hours=2))
    reason = "planned upgrade"


class LoadProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "loadtest.LoadProfile"

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"profile-{n}")
    source = "name: smoke\noperations:\n  - tools/list\n"


class LoadRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "loadtest.LoadRun"

    organization = factory.SubFactory(OrganizationFactory)
    profile_name = "smoke"
    spec = factory.LazyFunction(lambda: {"name": "smoke"})


class LoadShardFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "loadtest.LoadShard"

    run = factory.SubFactory(LoadRunFactory)
    organization = factory.SelfAttribute("run.organization")
    index = factory.Sequence(lambda n: n)
    spec = factory.LazyFunction(lambda: {"mode": "2026-07-28", "endpoints": []})


class LoadBaselineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "loadtest.LoadBaseline"

    run = factory.SubFactory(LoadRunFactory)
    organization = factory.SelfAttribute("run.organization")
    name = factory.Sequence(lambda n: f"baseline-{n}")
    profile_name = factory.SelfAttribute("run.profile_name")
