"""Model fields that encrypt with the data key of the row's organization.

``EncryptedTextField``, ``EncryptedJSONField`` and ``EncryptedBinaryField`` (bytes) store a sealed
value (``omnienc:1:<key id>:…``, see ``envelope``) in a text column. The organization is the row's
``organization_id``, or what the model's ``privacy_org_id()`` returns (``None``: the platform key).
Values are encrypted in ``pre_save`` (``save()``, ``create()``, ``bulk_create()``) and decrypted
when a row is loaded, so reading needs no instance context and no query in async code.

Loud by design:

* a value that cannot be decrypted (wrong or missing master key, unknown key, tampering) raises
  ``DecryptionError`` when the row is loaded, never hands ciphertext on as data;
* a value whose data key was destroyed loads as a placeholder and *reading the attribute* raises
  ``DataKeyDestroyed`` (so lists of other fields still load; the UI shows "[erased]");
* filtering on an encrypted field (except ``isnull``) and ``QuerySet.update()`` of one raise.

``BlindIndexField(source="email")`` keeps a keyed hash (HMAC-SHA256 under a key derived from the
organization's data key) of another field's normalized value, for lookups by equality.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from django import forms
from django.core.exceptions import FieldError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.query_utils import DeferredAttribute

from omni.privacy.crypto import envelope, keys
from omni.privacy.crypto.errors import DataKeyDestroyed, DecryptionError


class Unreadable:
    """What a row holds in place of a value whose data key was destroyed."""

    __slots__ = ("token", "error")

    def __init__(self, token: str, error: DataKeyDestroyed) -> None:
        self.token = token
        self.error = error

    def __repr__(self) -> str:
        return "<erased>"


class _Sealed:
    """A value already sealed by ``pre_save`` on its way to the database."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class EncryptedAttribute(DeferredAttribute):
    """A data descriptor (it has ``__set__``), so every read goes through ``__get__``."""

    def __set__(self, instance: Any, value: Any) -> None:
        instance.__dict__[self.field.attname] = value

    def __get__(self, instance: Any, cls: Any = None) -> Any:
        value = super().__get__(instance, cls)
        if isinstance(value, Unreadable):
            raise value.error
        return value


def org_id_of(instance: Any) -> int | None:
    """The organization whose key encrypts ``instance`` (``None``: the platform key)."""
    hook = getattr(instance, "privacy_org_id", None)
    if callable(hook):
        return hook()
    return instance.organization_id


def is_erased(instance: Any, name: str) -> bool:
    """Whether field ``name`` of ``instance`` was erased by destroying its data key."""
    return isinstance(instance.__dict__.get(name), Unreadable)


class _EncryptedMixin:
    descriptor_class = EncryptedAttribute

    def get_internal_type(self) -> str:
        return "TextField"

    def db_type(self, connection: Any) -> str:
        return models.TextField().db_type(connection)

    def encode(self, value: Any) -> bytes:  # pragma: no cover - overridden
        raise NotImplementedError

    def decode(self, data: bytes) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def pre_save(self, model_instance: Any, add: bool) -> Any:
        value = model_instance.__dict__.get(self.attname)
        if value is None:
            return None
        if isinstance(value, Unreadable):
            return _Sealed(value.token)  # an erased value stays as it was
        return _Sealed(envelope.seal(self.encode(value), org_id_of(model_instance)))

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if value is None:
            return None
        if isinstance(value, _Sealed):
            return value.text
        raise FieldError(
            f"{self.model.__name__}.{self.name} is encrypted with its row's organization key: write it "
            "through save()/create()/bulk_create(), not QuerySet.update() or a filter"
        )

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        if not envelope.is_sealed(value):
            raise DecryptionError(
                f"{self.model.__name__}.{self.name} holds a value that is not encrypted "
                "(run `python manage.py migrate`, whose data migrations encrypt existing rows)"
            )
        try:
            return self.decode(envelope.open_token(value))
        except DataKeyDestroyed as error:
            return Unreadable(value, error)

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        raise FieldError(
            f"{self.model.__name__}.{self.name} is encrypted and cannot be filtered on ({lookup_name})"
        )

    def get_transform(self, name: str) -> Any:
        raise FieldError(f"{self.model.__name__}.{self.name} is encrypted and cannot be filtered on ({name})")


class EncryptedTextField(_EncryptedMixin, models.TextField):
    def encode(self, value: Any) -> bytes:
        return str(value).encode()

    def decode(self, data: bytes) -> Any:
        return data.decode()

    def to_python(self, value: Any) -> Any:
        return value if value is None or isinstance(value, (str, Unreadable)) else str(value)


class EncryptedBinaryField(_EncryptedMixin, models.TextField):
    """Bytes (an export archive): the sealed token is base64 text, so the column is text."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def encode(self, value: Any) -> bytes:
        return bytes(value)

    def decode(self, data: bytes) -> Any:
        return data

    def to_python(self, value: Any) -> Any:
        return value


class EncryptedJSONField(_EncryptedMixin, models.TextField):
    def encode(self, value: Any) -> bytes:
        return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":")).encode()

    def decode(self, data: bytes) -> Any:
        return json.loads(data)

    def to_python(self, value: Any) -> Any:
        return value

    def formfield(self, **kwargs: Any) -> Any:
        return super().formfield(**{"form_class": forms.JSONField, **kwargs})

    def value_to_string(self, obj: Any) -> Any:
        return self.value_from_object(obj)


def blind_index(org_id: int | None, value: str) -> str:
    """A keyed hash of ``value`` under the organization's data key: equal values, equal indexes;
    nothing learnt from the index without the key. Destroying the key makes old indexes useless."""
    _, raw = keys.live_key(org_id)
    index_key = hashlib.sha256(b"omni-blind-index:" + raw).digest()
    return hmac.new(index_key, value.encode(), hashlib.sha256).hexdigest()


class BlindIndexField(models.CharField):
    """A keyed hash of another field (``source``), lower-cased and stripped, set on every save."""

    def __init__(self, *args: Any, source: str = "", **kwargs: Any) -> None:
        self.source = source
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("editable", False)
        kwargs.setdefault("blank", True)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        return name, path, args, kwargs

    def pre_save(self, model_instance: Any, add: bool) -> Any:
        value = model_instance.__dict__.get(self.source)
        if value is None or isinstance(value, Unreadable):
            return getattr(model_instance, self.attname)
        index = blind_index(org_id_of(model_instance), str(value).strip().lower())
        setattr(model_instance, self.attname, index)
        return index
