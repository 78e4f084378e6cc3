"""Resources in the UI: text and binary content, reading (escaped text, image preview, download),
inline form errors, global items read-only with override."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.defaultfilters import filesizeformat

from omni.registry.models import Resource
from tests.factories import ResourceFactory

PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000000500010d0a2db40000000049454e44ae426082"
)


def _url(world, rest: str = "") -> str:
    return f"/o/{world.acme.slug}/resources/{rest}"


def test_create_text_and_read_it(world, login):
    client = login(world.owner)
    response = client.post(
        _url(world, "new/"),
        {
            "uri": "docs://acme/guide",
            "name": "guide",
            "mime_type": "text/markdown",
            "text": "# Guide\n<b>hi</b>",
        },
    )
    assert response.status_code == 302
    resource = Resource.objects.owned_by(world.acme).get(uri="docs://acme/guide")
    assert (resource.text, resource.blob) == ("# Guide\n<b>hi</b>", None)
    page = login(world.viewer).get(_url(world, f"{resource.uuid}/")).content.decode()
    assert "# Guide\n&lt;b&gt;hi&lt;/b&gt;" in page and "<b>hi</b>" not in page


def test_upload_binary_image_and_download(world, login):
    client = login(world.admin)
    upload = SimpleUploadedFile("logo.png", PNG_1X1, content_type="image/png")
    response = client.post(
        _url(world, "new/"),
        {"uri": "image://acme/logo.png", "name": "logo", "mime_type": "image/png", "upload": upload},
    )
    assert response.status_code == 302
    resource = Resource.objects.owned_by(world.acme).get(uri="image://acme/logo.png")
    assert bytes(resource.blob) == PNG_1X1 and resource.text == ""
    page = client.get(_url(world, f"{resource.uuid}/")).content.decode()
    content_url = _url(world, f"{resource.uuid}/content/")
    assert f'<img class="preview" src="{content_url}"' in page
    assert f"Binary content, {filesizeformat(len(PNG_1X1))}." in page
    download = client.get(content_url)
    assert download.status_code == 200 and download.content == PNG_1X1
    assert download["Content-Type"] == "image/png"
    assert download["Content-Disposition"] == 'attachment; filename="logo.png"'
    assert download["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in download["Content-Security-Policy"]
    # Editing metadata keeps the binary content.
    response = client.post(
        _url(world, f"{resource.uuid}/edit/"),
        {"uri": "image://acme/logo.png", "name": "logo v2", "mime_type": "image/png"},
    )
    assert response.status_code == 302
    resource.refresh_from_db()
    assert resource.name == "logo v2" and bytes(resource.blob) == PNG_1X1


def test_binary_non_image_shows_size_and_download_only(world, login):
    resource = ResourceFactory(
        organization=world.acme,
        uri="file://acme/data.bin",
        mime_type="application/octet-stream",
        text="",
        blob=b"\0\1\2",
    )
    page = login(world.viewer).get(_url(world, f"{resource.uuid}/")).content.decode()
    assert 'class="preview"' not in page  # no <img> for a non-image
    assert f"Binary content, {filesizeformat(3)}." in page and "Download" in page


def test_form_errors_write_nothing(world, login):
    ResourceFactory(organization=world.acme, uri="docs://acme/taken")
    client = login(world.owner)
    base = {"name": "n", "mime_type": "text/plain"}
    cases = [
        ({**base, "uri": "no scheme", "text": "x"}, "Enter a URI with a scheme"),
        ({**base, "uri": "docs://acme/x", "text": ""}, "Enter the text, or upload a file."),
        ({**base, "uri": "docs://acme/x", "text": "x", "mime_type": "not a type"}, "Enter a MIME type"),
        ({**base, "uri": "docs://acme/taken", "text": "x"}, "already has an item with this uri"),
        (
            {**base, "uri": "docs://acme/x", "text": "x", "upload": SimpleUploadedFile("a.bin", b"1")},
            "Give either text or a file, not both.",
        ),
    ]
    before = Resource.objects.owned_by(world.acme).count()
    for data, message in cases:
        response = client.post(_url(world, "new/"), data)
        assert response.status_code == 400, data
        assert message in response.content.decode(), (data, message)
    assert Resource.objects.owned_by(world.acme).count() == before


def test_search_delete_and_override(world, login):
    ResourceFactory(organization=world.acme, uri="docs://acme/alpha", name="Alpha handbook")
    beta = ResourceFactory(organization=world.acme, uri="docs://acme/beta", name="Beta")
    glob = ResourceFactory(uri=f"docs://global/{world.acme.slug}", name="Global doc")
    client = login(world.owner)
    found = client.get(_url(world), {"q": "handbook"}).content.decode()
    assert "docs://acme/alpha" in found and "docs://acme/beta" not in found
    assert client.post(_url(world, f"{beta.uuid}/delete/")).status_code == 302
    assert not Resource.objects.filter(pk=beta.pk).exists()
    assert client.post(_url(world, f"{glob.uuid}/override/")).status_code == 302
    copy = Resource.objects.owned_by(world.acme).get(uri=glob.uri)
    assert copy.text == glob.text and copy.pk != glob.pk
    assert client.get(_url(world, f"{glob.uuid}/edit/")).status_code == 403
