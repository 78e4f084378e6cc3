"""Every tenancy and registry model is in the admin; API keys are created there, shown once."""

import pytest
from django.urls import reverse

from omni.tenants.models import ApiKey
from omni.tenants.services import authenticate_api_key
from tests.factories import (
    ApiKeyFactory,
    MembershipFactory,
    PromptFactory,
    ResourceFactory,
    ResourceTemplateFactory,
    ServerConnectionFactory,
    UserFactory,
)

MODELS = [
    ("tenants", "organization"),
    ("tenants", "membership"),
    ("tenants", "apikey"),
    ("registry", "prompt"),
    ("registry", "resource"),
    ("registry", "resourcetemplate"),
    ("registry", "serverconnection"),
]


@pytest.fixture
def admin_client(client, world):
    user = UserFactory(username=f"root-{world.acme.slug}", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


@pytest.mark.parametrize("app, model", MODELS)
def test_changelist_and_add_pages_render(admin_client, world, app, model):
    MembershipFactory(organization=world.acme)
    ApiKeyFactory(organization=world.acme)
    PromptFactory(organization=world.acme)
    ResourceFactory(text="", blob=b"\x89PNG")
    ResourceTemplateFactory()
    ServerConnectionFactory(organization=world.globex)
    assert admin_client.get(reverse(f"admin:{app}_{model}_changelist")).status_code == 200
    assert admin_client.get(reverse(f"admin:{app}_{model}_add")).status_code == 200


def test_api_key_change_page_shows_prefix_and_hash_read_only(admin_client, world):
    key = ApiKeyFactory(organization=world.acme)
    page = admin_client.get(reverse("admin:tenants_apikey_change", args=[key.pk])).content.decode()
    assert key.prefix in page and key.key_hash in page
    assert 'name="key_hash"' not in page and 'name="prefix"' not in page
    assert key.raw_key not in page


def test_api_key_created_in_the_admin_is_shown_once_and_works(admin_client, world):
    response = admin_client.post(
        reverse("admin:tenants_apikey_add"),
        {"organization": world.acme.pk, "name": "from admin", "scopes": '["prompts:read"]', "expires_at": ""},
        follow=True,
    )
    assert response.status_code == 200
    [message] = [str(m) for m in response.context["messages"] if "cannot be shown again" in str(m)]
    raw = message.rsplit(" ", 1)[1]
    ctx = authenticate_api_key(raw)
    assert ctx is not None and ctx.organization == world.acme and ctx.scopes == {"prompts:read"}
    assert ApiKey.objects.for_org(world.acme).get(name="from admin").created_by is not None
