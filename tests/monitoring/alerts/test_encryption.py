"""Notification addresses at rest: the email addresses and the webhook URL of a channel are sealed
with its organization's data key (a global channel's with the platform key), read back by the
alerting code, and unreadable once the organization's key is destroyed."""

from __future__ import annotations

import pytest
from django.core.exceptions import FieldError
from django.db import connection

from omni.monitoring.alerts.services import build_message
from omni.monitoring.alerts.transports import send
from omni.monitoring.models.alerts import NotificationChannel
from omni.privacy.crypto import envelope, keys
from omni.privacy.crypto.errors import DataKeyDestroyed
from omni.privacy.crypto.fields import is_erased
from omni.privacy.crypto.services import destroy_org_key
from omni.privacy.models import DataKey
from tests.monitoring.alerts.conftest import email_channel, webhook_channel


def _stored(channel: NotificationChannel) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT emails, url FROM monitoring_notificationchannel WHERE id = %s", [channel.pk])
        return cursor.fetchone()


def _key_owner(token: str) -> int | None:
    return DataKey.objects.get(key_id=envelope.key_id_of(token)).organization_id


def test_addresses_and_urls_are_sealed_with_the_right_key(world, receiver, mailoutbox):
    mail = email_channel(world.acme, "oncall-sentinel@example.org")
    hook = webhook_channel(world.acme, receiver.url + "/services/T0/B0/sentinel-path")
    glob = webhook_channel(None, receiver.url + "/global-sentinel", name="global hook")
    for channel in (mail, hook, glob):
        emails, url = _stored(channel)
        assert emails.startswith("omnienc:1:") and url.startswith("omnienc:1:")
        assert "sentinel" not in emails + url
        assert _key_owner(emails) == _key_owner(url) == channel.organization_id
    keys.forget_all()
    mail = NotificationChannel.objects.get(pk=mail.pk)
    hook = NotificationChannel.objects.get(pk=hook.pk)
    assert mail.emails == ["oncall-sentinel@example.org"] and hook.url.endswith("/sentinel-path")
    # The transports read them back: an email goes to the address, a webhook to the URL.
    assert send(mail, build_message(mail, None, "test")).ok
    assert mailoutbox[-1].to == ["oncall-sentinel@example.org"]
    assert send(hook, build_message(hook, None, "test")).ok
    assert receiver.received[-1].path.endswith("/services/T0/B0/sentinel-path")
    # Filtering on an encrypted field is refused loudly, never silently wrong.
    with pytest.raises(FieldError):
        NotificationChannel.objects.filter(url=hook.url).exists()


def test_destroying_the_organization_key_erases_its_addresses(world):
    mail = email_channel(world.acme, "gone@example.org")
    other = email_channel(world.globex, "kept@example.org")
    destroy_org_key(world.acme)
    keys.forget_all()
    mail = NotificationChannel.objects.get(pk=mail.pk)
    assert is_erased(mail, "emails")
    with pytest.raises(DataKeyDestroyed):
        _ = mail.emails
    assert NotificationChannel.objects.get(pk=other.pk).emails == ["kept@example.org"]
