"""Redaction: one test per pattern (masked, and a look-alike that must stay), structure-aware masking."""

from __future__ import annotations

import pytest

from omni.privacy.crypto.redaction import mask_text, masks_personal_data, redact, redact_for

SECRETS = [
    ("Authorization: Bearer abcDEF123456789xyz", "Bearer [redacted:token]", "abcDEF123456789xyz"),
    ("basic dXNlcjpwYXNzd29yZA==", "[redacted:token]", "dXNlcjpwYXNzd29yZA"),
    (
        "key omni_ab12cd34_Zx9QmTQ1vR7sL0pWmKe3yA",
        "omni_ab12cd34_[redacted:api_key]",
        "Zx9QmTQ1vR7sL0pWmKe3yA",
    ),
    ("sk-proj-" + "A1b2C3d4" * 4, "[redacted:openai_key]", "A1b2C3d4A1b2"),
    ("sk-ant-api03-" + "x" * 40, "[redacted:anthropic_key]", "x" * 40),
    ("ghp_" + "a" * 36, "[redacted:github_token]", "a" * 36),
    ("github_pat_" + "B" * 30, "[redacted:github_token]", "B" * 30),
    ("glpat-" + "c" * 20, "[redacted:gitlab_token]", "c" * 20),
    ("xoxb-1234567890-abcdef", "[redacted:slack_token]", "1234567890-abcdef"),
    ("AKIAIOSFODNN7EXAMPLE", "[redacted:aws_key]", "IOSFODNN7EXAMPLE"),
    ("AIza" + "d" * 35, "[redacted:google_key]", "d" * 35),
    ("sk_live_" + "e" * 24, "[redacted:stripe_key]", "e" * 24),
    ("hf_" + "f" * 34, "[redacted:huggingface_token]", "f" * 34),
    ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nature-abc", "[redacted:jwt]", "eyJzdWIiOiIxIn0"),
    ("postgres://bob:hunter2@db:5432/x", "postgres://bob:[redacted:password]@db", "hunter2"),
    (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
        "[redacted:private_key]",
        "MIIE",
    ),
]

KEEP = [
    "tokenize this sentence",  # a word, not a credential
    "https://example.com/path?x=1",  # URL without a password
    "sk-short",  # too short for a provider key
    "omni_ab12cd34",  # an API key prefix alone is public
    "the total is 4111 1111 1111 1112",  # not Luhn-valid: no card
    "2024-01-02 10:30:00",  # dates are not phone numbers
]

PERSONAL = [
    ("mail ada@example.org now", "[redacted:email]", "ada@example.org"),
    ("call +44 20 7946 0958", "[redacted:phone]", "7946 0958"),
    ("call (555) 123-4567", "[redacted:phone]", "123-4567"),
    ("card 4111 1111 1111 1111", "[redacted:card]", "4111"),
    ("card 4111-1111-1111-1111", "[redacted:card]", "4111"),
    ("iban GB82 WEST 1234 5698 7654 32", "[redacted:iban]", "WEST"),
    ("iban DE89370400440532013000", "[redacted:iban]", "DE89370400440532013000"),
]


@pytest.mark.parametrize(("text", "expected", "gone"), SECRETS)
def test_secret_patterns_are_masked(text, expected, gone):
    masked = mask_text(text)
    assert expected in masked and gone not in masked


@pytest.mark.parametrize("text", KEEP)
def test_look_alikes_stay(text):
    assert mask_text(text, personal=True) == text


@pytest.mark.parametrize(("text", "expected", "gone"), PERSONAL)
def test_personal_patterns_are_masked_only_when_asked(text, expected, gone):
    assert mask_text(text) == text
    masked = mask_text(text, personal=True)
    assert expected in masked and gone not in masked


def test_invalid_iban_stays():
    assert mask_text("GB82 WEST 1234 5698 7654 33", personal=True) == "GB82 WEST 1234 5698 7654 33"


def test_json_values_are_masked_and_secret_keys_hide_their_values():
    value = {
        "params": {"arguments": {"password": "correct horse", "query": "Bearer abcdefghijk12345", "n": 3}},
        "headers": [{"Authorization": "whatever it is"}, {"api_key": 1234567}],
        "nested": [[["postgres://u:pw@h/d"]]],
        "token": "",
    }
    out = redact(value)
    assert out["params"]["arguments"] == {
        "password": "[redacted:secret]",
        "query": "Bearer [redacted:token]",
        "n": 3,
    }
    assert out["headers"] == [{"Authorization": "[redacted:secret]"}, {"api_key": "[redacted:secret]"}]
    assert out["nested"] == [[["postgres://u:[redacted:password]@h/d"]]]
    assert out["token"] == ""  # nothing to hide
    assert value["params"]["arguments"]["password"] == "correct horse"  # the input is not changed


def test_very_deep_values_are_bounded():
    deep: object = "x"
    for _ in range(200):
        deep = [deep]
    out = redact(deep)
    depth = 0
    while isinstance(out, list):
        out, depth = out[0], depth + 1
    assert out == "[redacted:too_deep]" and depth <= 65


def test_the_organization_setting_switches_personal_masking():
    class Org:
        settings = {"privacy_mask_personal_data": True}

    class Off:
        settings = {}

    assert masks_personal_data(Org) and not masks_personal_data(Off)
    assert redact_for(Org, {"to": "ada@example.org"}) == {"to": "[redacted:email]"}
    assert redact_for(Off, {"to": "ada@example.org"}) == {"to": "ada@example.org"}
