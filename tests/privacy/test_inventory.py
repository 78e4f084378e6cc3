"""The data inventory classifies every model field of every installed app, and docs/privacy.md
shows exactly what omni/privacy/inventory.py says."""

from __future__ import annotations

from django.apps import apps

from omni.privacy import inventory
from omni.privacy.crypto.fields import _EncryptedMixin
from omni.privacy.management.commands.privacy_inventory import BEGIN, END, docs_path, render_markdown

WHERE = "omni/privacy/inventory.py (MODELS)"


def concrete_fields() -> dict[str, list[str]]:
    return {
        model._meta.label: [f.name for f in model._meta.get_fields() if f.concrete]
        for model in apps.get_models(include_auto_created=True)
    }


def test_every_model_field_is_classified():
    entries = inventory.model_map()
    missing = []
    for label, names in concrete_fields().items():
        entry = entries.get(label)
        if entry is None:
            missing.append(
                f"model {label} (fields {', '.join(names)}): add a ModelEntry({label!r}, …) to {WHERE}"
            )
            continue
        missing += [
            f"field {label}.{name}: add {name!r}: FieldClass(…) to ModelEntry({label!r}) in {WHERE}"
            for name in names
            if name not in entry.fields
        ]
    assert not missing, "The data inventory does not classify:\n  " + "\n  ".join(missing)


def test_the_inventory_names_no_field_that_does_not_exist():
    fields = concrete_fields()
    stale = [
        f"{entry.label}.{name}"
        for entry in inventory.MODELS
        for name in entry.fields
        if name not in fields.get(entry.label, ())
    ]
    assert not stale, f"remove these from {WHERE}: {', '.join(stale)}"


def test_classes_and_protections_are_known_and_every_entry_is_complete():
    for entry in inventory.MODELS:
        assert entry.readers and entry.retention and entry.export and entry.erasure, entry.label
        for name, value in entry.fields.items():
            assert value.kind in inventory.CLASSES, f"{entry.label}.{name}: {value.kind}"
            assert value.protection in inventory.PROTECTIONS or value.protection.startswith("encrypted:"), (
                name
            )
    for family in inventory.REDIS:
        assert family.kind in inventory.CLASSES and family.retention and family.erasure, family.pattern


def test_encrypted_in_the_inventory_means_an_encrypted_field_type_and_back():
    declared = set(inventory.encrypted_fields())
    actual = {
        (model._meta.label, f.name)
        for model in apps.get_models()
        for f in model._meta.get_fields()
        if isinstance(f, _EncryptedMixin)
    }
    assert declared == actual
    assert ("playground.TestRun", "request") in actual and ("tenants.Invitation", "email") in actual


def test_every_secret_is_protected_or_says_why_not():
    for entry in inventory.MODELS:
        for name, value in entry.fields.items():
            if value.kind == inventory.SECRET and value.protection == inventory.PLAIN:
                assert value.note.startswith("plain:"), (
                    f"{entry.label}.{name} is a plaintext secret without a reason"
                )


def test_docs_privacy_md_holds_the_generated_inventory():
    text = docs_path().read_text()
    assert BEGIN in text and END in text
    section = text.split(BEGIN, 1)[1].split(END, 1)[0].lstrip("\n")
    assert section == render_markdown(), (
        "docs/privacy.md's inventory is out of date: run `python manage.py privacy_inventory --write`"
    )
