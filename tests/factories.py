"""factory-boy factories for the tenancy and registry models.

``ApiKeyFactory`` goes through ``create_api_key``; the raw key is on the instance as ``raw_key``
(``ApiKeyFactory.create_with_raw()`` returns both).
"""

from __future__ import annotations

import functools

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password

from omni.registry.models import Prompt, Resource, ResourceTemplate, ServerConnection
from omni.tenants.models import ApiKey, Membership, Organization, Role
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
