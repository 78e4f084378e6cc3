"""The official MCP conformance suite, in server mode, against the gateway.

A live gateway (``live_server``) fronts the suite's own reference server
(``reference/everything-server.ts``, run by Node 22 with tsx), registered for a test organization
with ``no_prefix`` so that the suite finds its tools and prompts under their own names. Every
server scenario of the suite runs (``--suite all``); each one that fails must be listed, with a
reason, in ``expected_failures.yaml``, and each one listed there must still fail. The suite's
client sends no credentials: ``bearer.mjs`` adds the organization's API key to its requests.
Everything is installed by ``scripts/conformance.sh`` (idempotent; ``make test`` runs it first).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from omni.registry.models import ServerConnection
from omni.tenants.services import create_api_key, create_organization
from tests.live import HEALTH_TIMEOUT, ROOT, free_port, unique_slug

pytestmark = pytest.mark.live

HERE = Path(__file__).resolve().parent
EXPECTED_FAILURES = HERE / "expected_failures.yaml"
RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$")
SUITE_TIMEOUT = 600


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "conformance.sh")], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"scripts/conformance.sh failed:\n{done.stdout}\n{done.stderr}"
    return Path(done.stdout.strip().splitlines()[-1])


def _wait_listening(port: int, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT
    while True:
        if process.poll() is not None:
            pytest.fail(f"the reference server exited with {process.returncode}:\n{log_path.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"the reference server did not listen on {port}:\n{log_path.read_text()}")
        time.sleep(0.1)


def _node(directory: Path) -> str:
    return str(directory / "node_modules" / ".bin" / "node")


@pytest.fixture
def reference_server(conformance_dir: Path, tmp_path: Path):
    """The suite's reference server on a free port; yields its MCP URL."""
    port = free_port()
    log = (tmp_path / "everything-server.log").open("w")
    process = subprocess.Popen(
        [_node(conformance_dir), str(conformance_dir / "node_modules/.bin/tsx"), "everything-server.ts"],
        cwd=conformance_dir,
        env={**os.environ, "PORT": str(port)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_listening(port, process, tmp_path / "everything-server.log")
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _server_scenarios(conformance_dir: Path) -> set[str]:
    listed = subprocess.run(
        [_node(conformance_dir), str(conformance_dir / "node_modules/.bin/conformance"), "list", "--server"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return set(re.findall(r"^\s+- (\S+)", listed.stdout, re.MULTILINE))


def _outcomes(output_dir: Path) -> dict[str, list[str]]:
    """Scenario -> the failed checks' messages (empty: passed), from the suite's checks.json files."""
    outcomes: dict[str, list[str]] = {}
    for directory in sorted(output_dir.iterdir()):
        match = RESULT_DIR.match(directory.name)
        if match is None:
            continue
        checks = json.loads((directory / "checks.json").read_text())
        failed = [
            f"{check['id']}: {check.get('errorMessage') or check.get('description')}"
            for check in checks
            if check.get("status") == "FAILURE"
        ]
        outcomes[match["scenario"]] = failed
    return outcomes


def _expected_failures() -> dict[str, str]:
    data = yaml.safe_load(EXPECTED_FAILURES.read_text()) or {}
    listed = data.get("server") or {}
    assert isinstance(listed, dict), "expected_failures.yaml: 'server' maps scenario -> reason"
    for scenario, reason in listed.items():
        assert isinstance(reason, str) and reason.strip(), f"expected_failures.yaml: {scenario} has no reason"
    return listed


def test_conformance_suite_through_the_gateway(
    committed, live_server, conformance_dir: Path, reference_server: str, tmp_path: Path
):
    org = create_organization(unique_slug("conformance"), "Conformance")
    conn = ServerConnection(
        organization=org,
        name="everything",
        transport=ServerConnection.Transport.STREAMABLE_HTTP,
        url=reference_server,
        no_prefix=True,
        timeout_seconds=30,
    )
    conn.full_clean()
    conn.save()
    _api_key, key = create_api_key(org, unique_slug("conformance-key"))
    expected = _expected_failures()
    scenarios = _server_scenarios(conformance_dir)
    assert len(scenarios) >= 30, scenarios
    assert not set(expected) - scenarios, (
        f"expected_failures.yaml names unknown scenarios: {set(expected) - scenarios}"
    )

    output_dir = tmp_path / "results"
    started = time.monotonic()
    run = subprocess.run(
        [
            _node(conformance_dir),
            "--import",
            str(conformance_dir / "bearer.mjs"),
            str(conformance_dir / "node_modules/.bin/conformance"),
            "server",
            "--url",
            live_server.mcp_url,
            "--suite",
            "all",
            "--output-dir",
            str(output_dir),
        ],
        cwd=conformance_dir,
        env={**os.environ, "OMNI_CONFORMANCE_ORIGIN": live_server.url, "OMNI_CONFORMANCE_KEY": key},
        capture_output=True,
        text=True,
        timeout=SUITE_TIMEOUT,
    )
    elapsed = time.monotonic() - started
    summary = (
        run.stdout[run.stdout.find("=== SUMMARY ===") :] if "=== SUMMARY ===" in run.stdout else run.stdout
    )
    print(f"conformance suite: {len(scenarios)} server scenarios in {elapsed:.1f}s\n{summary}")

    outcomes = _outcomes(output_dir) if output_dir.exists() else {}
    missing = sorted(scenarios - set(outcomes))
    assert not missing, f"scenarios without results: {missing}\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
    failed = {name for name, problems in outcomes.items() if problems}
    unexpected = {name: outcomes[name] for name in sorted(failed - set(expected))}
    now_passing = sorted(set(expected) - failed)
    assert not unexpected, "unexpected conformance failures:\n" + json.dumps(unexpected, indent=2)
    assert not now_passing, f"listed in expected_failures.yaml but passing now (remove them): {now_passing}"
