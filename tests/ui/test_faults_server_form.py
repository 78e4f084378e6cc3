"""The fault-injecting server registered in the UI: its options (the connection's arguments) are
checked when saved, a bad one is shown on the form (not a 500), and a good one is saved and used."""

from __future__ import annotations

from omni.registry.models import ServerConnection


def _data(**extra: str) -> dict[str, str]:
    return {
        "name": "faults",
        "transport": "inprocess",
        "target": "faults",
        "enabled": "on",
        "timeout_seconds": "10",
        **extra,
    }


def test_fault_options_are_validated_on_the_form(world, login):
    client = login(world.owner)
    url = f"/o/{world.acme.slug}/servers/new/"
    page = client.get(url).content.decode()
    # The arguments field is offered for in-process servers too (the faults server's options).
    assert 'data-for-transport="inprocess stdio"' in page and 'name="args"' in page

    response = client.post(url, _data(args="--latency\nnormal:50\n--error-rate\n2"))
    assert response.status_code == 400  # the form again, with the errors
    body = response.content.decode()
    assert "normal takes 2 number(s) of milliseconds, not 1" in body
    assert "error_rate must be between 0 and 1, not 2" in body
    assert not ServerConnection.objects.owned_by(world.acme).filter(name="faults").exists()

    response = client.post(url, _data(args="--latency\nfixed:25\n--error-rate\n0.5"))
    assert response.status_code == 302, response.content.decode()[-2000:]
    server = ServerConnection.objects.owned_by(world.acme).get(name="faults")
    assert server.args == ["--latency", "fixed:25", "--error-rate", "0.5"]

    tested = client.post(f"/o/{world.acme.slug}/servers/{server.uuid}/test/", HTTP_HX_REQUEST="true")
    assert 'data-testid="test-ok"' in tested.content.decode() and "8 tools" in tested.content.decode()


def test_other_builtin_servers_take_no_options(world, login):
    client = login(world.owner)
    response = client.post(
        f"/o/{world.acme.slug}/servers/new/",
        _data(name="utils", target="utilities", args="--latency\nfixed:5"),
    )
    assert response.status_code == 400  # the form again, with the errors
    assert "takes no options" in response.content.decode()
