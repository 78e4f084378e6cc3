"""Benchmark: the gateway against the same MCP server reached directly. Prints figures; asserts nothing.

    .venv/bin/python scripts/bench_gateway.py [--clients 8] [--requests 200] [--mode auto|legacy]

It makes a scratch environment (SQLite under a temp dir unless DATABASE_URL is set; REDIS_URL is
passed through), creates an organization, an API key and a ``utilities`` server connection, then
starts two processes on free ports:

* the gateway (daphne serving ``omni.asgi:application``), whose ``utilities`` connection points at
* the standalone utilities server (``python -m mcp_servers.utilities``) over Streamable HTTP
  (``--downstream http``, the default), or is served in-process (``--downstream inprocess``).

With ``--compare-observe`` a second gateway process runs with ``MCP_OBSERVE_REQUESTS=false`` (no
request observation, no usage counters) and only ``tools/call`` through both gateways is measured,
in interleaved rounds (observed, unobserved, unobserved, observed, …): the cost of the counters on
the hot path.

N concurrent official SDK clients then send ``tools/list`` and ``tools/call utilities__calculate``
through the gateway, and ``tools/list`` / ``tools/call calculate`` to the standalone server
directly. For each it prints requests/s and p50/p95/p99 latency, and the resident memory of both
server processes before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_http(url: str, timeout: float = 120) -> None:
    import httpx2

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx2.get(url, timeout=1)
            return
        except httpx2.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def prepare(env: dict[str, str], downstream_url: str, downstream: str) -> str:
    """Migrate the scratch database and create the org, key and connection; returns the raw key."""
    code = f"""
import django, os
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from omni.tenants.services import create_organization, create_api_key
from omni.tenants.models import Organization
from omni.registry.models import ServerConnection
org = Organization.objects.filter(slug="bench").first() or create_organization("bench", "Bench")
# A benchmark measures speed, not the rate limits: lift them for this organization.
unlimited = dict(mcp_per_key_per_minute=10**6, mcp_per_org_per_minute=10**6)
org.settings = dict(org.settings, rate_limits=unlimited)
org.save()
ServerConnection.objects.filter(organization=org).delete()
if {downstream!r} == "http":
    ServerConnection.objects.create(organization=org, name="utilities", transport="streamable_http",
                                    url={downstream_url!r}, timeout_seconds=30)
else:
    ServerConnection.objects.create(
        organization=org, name="utilities", transport="inprocess", target="utilities"
    )
print(create_api_key(org, "bench")[1])
"""
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    return out.stdout.strip().splitlines()[-1]


async def run_load(label: str, make_client, operation, clients: int, requests: int) -> dict:
    latencies: list[float] = []
    errors = 0

    async def worker() -> None:
        nonlocal errors
        async with make_client() as client:
            await operation(client)  # warm-up, not counted
            for _ in range(requests):
                started = time.perf_counter()
                try:
                    await operation(client)
                except Exception:
                    errors += 1
                    continue
                latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [float("nan")] * 99
    return {
        "label": label,
        "ok": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed,
        "p50": q[49],
        "p95": q[94],
        "p99": q[98],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=200, help="requests per client per scenario")
    parser.add_argument(
        "--mode", default="auto", help="SDK client mode: auto (2026-07-28) or legacy (handshake)"
    )
    parser.add_argument("--downstream", choices=["http", "inprocess"], default="http")
    parser.add_argument(
        "--compare-observe",
        action="store_true",
        help="tools/call through a gateway with and one without request observation, interleaved",
    )
    parser.add_argument("--rounds", type=int, default=4, help="rounds of --compare-observe")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="omni-bench-"))
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="omni.settings",
        OMNI_VAR_DIR=str(scratch),
        LOG_LEVEL="WARNING",
        # The downstream server listens on loopback, which the egress policy refuses by default.
        MCP_EGRESS_ALLOW=os.environ.get("MCP_EGRESS_ALLOW", "127.0.0.0/8"),
    )
    server_port, gateway_port = free_port(), free_port()
    direct_url = f"http://127.0.0.1:{server_port}/mcp"
    gateway_url = f"http://127.0.0.1:{gateway_port}/mcp"
    key = prepare(env, direct_url, args.downstream)

    server = subprocess.Popen(
        [sys.executable, "-m", "mcp_servers.utilities", "--port", str(server_port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    gateway = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(gateway_port), "omni.asgi:application"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    plain = None
    plain_port = free_port()
    if args.compare_observe:
        plain = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(plain_port),
                "omni.asgi:application",
            ],
            env={**env, "MCP_OBSERVE_REQUESTS": "false"},
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    try:
        wait_http(f"http://127.0.0.1:{gateway_port}/healthz")
        wait_http(f"http://127.0.0.1:{server_port}/mcp")
        if plain is not None:
            wait_http(f"http://127.0.0.1:{plain_port}/healthz")
            os.environ.update(env)
            results = asyncio.run(
                compare_observe(args, gateway_url, f"http://127.0.0.1:{plain_port}/mcp", key)
            )
            print_results(args, results)
            return
        memory_before = (rss_mib(gateway.pid), rss_mib(server.pid))
        # The direct client signs like the gateway (the server accepts only signed requests), with
        # the keys of the scratch installation: set Django up on the same environment.
        os.environ.update(env)
        import django

        django.setup()
        results = asyncio.run(scenarios(args, gateway_url, direct_url, key))
        memory_after = (rss_mib(gateway.pid), rss_mib(server.pid))
    finally:
        for process in (gateway, server, plain):
            if process is not None:
                process.terminate()
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:  # a loaded machine: do not leave it behind
                    process.kill()
                    process.wait(10)

    print_results(args, results)
    print(
        f"RSS MiB: gateway {memory_before[0]:.0f} -> {memory_after[0]:.0f}, "
        f"utilities server {memory_before[1]:.0f} -> {memory_after[1]:.0f}"
    )


def print_results(args, results: list[dict]) -> None:
    database = "DATABASE_URL" if os.environ.get("DATABASE_URL") else "sqlite"
    redis = "yes" if os.environ.get("REDIS_URL") else "no"
    print(
        f"\n{args.clients} concurrent SDK clients x {args.requests} requests, mode={args.mode}, "
        f"downstream={args.downstream}, database={database}, redis={redis}"
    )
    print(f"{'scenario':42} {'ok':>6} {'err':>4} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for r in results:
        print(
            f"{r['label']:42} {r['ok']:6d} {r['errors']:4d} {r['rps']:8.1f} "
            f"{r['p50']:8.2f} {r['p95']:8.2f} {r['p99']:8.2f}"
        )


async def compare_observe(args, observed_url: str, plain_url: str, key: str) -> list[dict]:
    """tools/call through the observed and the unobserved gateway, rounds interleaved (ABBA…)."""
    import contextlib

    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    @contextlib.asynccontextmanager
    async def client_for(url: str):
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
            async with Client(streamable_http_client(url, http_client=http), mode=args.mode, cache=None) as c:
                yield c

    async def call(c):
        result = await c.call_tool("utilities__calculate", {"expression": "2*(3+4)"})
        assert not result.is_error

    results: dict[str, list[dict]] = {"observed": [], "unobserved": []}
    order = [("observed", observed_url), ("unobserved", plain_url)]
    for round_ in range(args.rounds):
        for label, url in order if round_ % 2 == 0 else reversed(order):
            results[label].append(
                await run_load(
                    f"{label} r{round_ + 1}", lambda u=url: client_for(u), call, args.clients, args.requests
                )
            )
    rows = [r for pair in zip(results["observed"], results["unobserved"], strict=True) for r in pair]
    for label, runs in results.items():
        rows.append(
            {
                "label": f"{label} (mean of {len(runs)} rounds)",
                "ok": sum(r["ok"] for r in runs),
                "errors": sum(r["errors"] for r in runs),
                **{k: statistics.fmean(r[k] for r in runs) for k in ("rps", "p50", "p95", "p99")},
            }
        )
    return rows


async def scenarios(args, gateway_url: str, direct_url: str, key: str) -> list[dict]:
    import contextlib

    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    @contextlib.asynccontextmanager
    async def client_for(url: str, headers: dict[str, str], signed: bool = False):
        from omni.gateway.signing import GatewaySigner

        auth = GatewaySigner() if signed else None
        async with httpx2.AsyncClient(headers=headers, timeout=60, auth=auth) as http:
            async with Client(
                streamable_http_client(url, http_client=http), mode=args.mode, cache=None
            ) as client:
                yield client

    auth = {"Authorization": f"Bearer {key}"}
    meta = {"io.omni/org": "bench"}

    async def gw_list(c):
        await c.list_tools()

    async def gw_call(c):
        result = await c.call_tool("utilities__calculate", {"expression": "2*(3+4)"})
        assert not result.is_error

    async def direct_list(c):
        await c.list_tools()

    async def direct_call(c):
        result = await c.call_tool("calculate", {"expression": "2*(3+4)"}, meta=meta)
        assert not result.is_error

    n, m = args.clients, args.requests
    return [
        await run_load("direct   tools/list", lambda: client_for(direct_url, {}, True), direct_list, n, m),
        await run_load("gateway  tools/list", lambda: client_for(gateway_url, auth), gw_list, n, m),
        await run_load(
            "direct   tools/call calculate", lambda: client_for(direct_url, {}, True), direct_call, n, m
        ),
        await run_load(
            "gateway  tools/call utilities__calculate", lambda: client_for(gateway_url, auth), gw_call, n, m
        ),
    ]


if __name__ == "__main__":
    main()
