"""Benchmark: the cost of the metrics on the gateway's tools/call hot path. Prints figures; asserts nothing.

    .venv/bin/python scripts/bench_metrics.py [--clients 8] [--requests 200] [--rounds 3]
                                              [--downstream inprocess|http]

The same scratch set-up as scripts/bench_gateway.py (whose helpers it uses): an organization, a key
and a ``utilities`` connection. It starts two gateway processes (daphne) in the same run, on the
same database and Redis: one with ``METRICS_ENABLED=false`` and one with the metrics on in the
production shape (``PROMETHEUS_MULTIPROC_DIR`` set: every observation is written to a memory-mapped
file), and sends ``tools/call utilities__calculate`` from N concurrent SDK clients to each, in
alternating rounds (off, on, off, on …) so that drift on a shared machine hits both alike. Prints
requests/s and p50/p95/p99 per round and the medians per side, then scrapes /metrics of the "on"
process once and prints the count it reports (it should equal the calls sent to it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_gateway import free_port, prepare, run_load, wait_http  # noqa: E402


def start_gateway(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "omni.asgi:application"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def rounds(args, urls: dict[str, str], key: str) -> list[dict]:
    import contextlib

    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    @contextlib.asynccontextmanager
    async def client_for(url: str):
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
            async with Client(streamable_http_client(url, http_client=http), cache=None) as client:
                yield client

    async def call(c):
        result = await c.call_tool("utilities__calculate", {"expression": "2*(3+4)"})
        assert not result.is_error

    results = []
    for number in range(1, args.rounds + 1):
        for side in ("off", "on"):
            url = urls[side]
            result = await run_load(
                f"metrics {side:3} round {number}",
                lambda u=url: client_for(u),
                call,
                args.clients,
                args.requests,
            )
            result["side"] = side
            results.append(result)
            print(
                f"{result['label']}: {result['rps']:.1f} req/s, p50 {result['p50']:.2f} ms, "
                f"p99 {result['p99']:.2f} ms, errors {result['errors']}",
                flush=True,
            )
    return results


MICRO = """
import os, time, django
django.setup()
from omni.gateway.observe import RequestRecord, emit, _subscribers
record = RequestRecord(org_id=1, org_slug="bench", api_key_id="k", method="tools/call",
                       target="utilities__calculate", server="utilities", duration=0.01, transport="single")
n = 200_000
for _ in range(1000):
    emit(record)  # warm the label cache
started = time.perf_counter()
for _ in range(n):
    emit(record)
print(f"{(time.perf_counter() - started) / n * 1e6:.2f} us per request ({len(_subscribers)} subscribers)")
"""


def micro(env: dict[str, str], multiproc: Path) -> None:
    """The observer's own cost per request, in a process of its own: off, in memory, multiprocess."""
    cases = {
        "metrics off (METRICS_ENABLED=false)": {"METRICS_ENABLED": "false"},
        "metrics on, process memory": {"METRICS_ENABLED": "true"},
        "metrics on, PROMETHEUS_MULTIPROC_DIR": {
            "METRICS_ENABLED": "true",
            "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        },
    }
    for label, extra in cases.items():
        out = subprocess.run(  # noqa: S603
            [sys.executable, "-c", MICRO],
            env={**env, **extra},
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        print(f"emit() of one RequestRecord, {label:38}: {out.stdout.strip()}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=200, help="requests per client per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--downstream", choices=["http", "inprocess"], default="inprocess")
    parser.add_argument("--micro-only", action="store_true", help="only the per-request cost of the observer")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="omni-bench-metrics-"))
    multiproc = scratch / "prometheus"
    multiproc.mkdir()
    env = dict(
        os.environ, DJANGO_SETTINGS_MODULE="omni.settings", OMNI_VAR_DIR=str(scratch), LOG_LEVEL="WARNING"
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    micro(env, multiproc)
    if args.micro_only:
        return
    server_port = free_port()
    ports = {"off": free_port(), "on": free_port()}
    key = prepare(env, f"http://127.0.0.1:{server_port}/mcp", args.downstream)
    server = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "mcp_servers.utilities", "--port", str(server_port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    gateways = {
        "off": start_gateway({**env, "METRICS_ENABLED": "false"}, ports["off"], scratch / "gateway-off.log"),
        "on": start_gateway(
            {**env, "METRICS_ENABLED": "true", "PROMETHEUS_MULTIPROC_DIR": str(multiproc)},
            ports["on"],
            scratch / "gateway-on.log",
        ),
    }
    try:
        for port in ports.values():
            wait_http(f"http://127.0.0.1:{port}/healthz", timeout=120)  # a busy shared machine
        wait_http(f"http://127.0.0.1:{server_port}/mcp", timeout=120)
        urls = {side: f"http://127.0.0.1:{port}/mcp" for side, port in ports.items()}
        results = asyncio.run(rounds(args, urls, key))
        import httpx2

        body = httpx2.get(f"http://127.0.0.1:{ports['on']}/metrics", timeout=10).text
    finally:
        for process in (*gateways.values(), server):
            process.terminate()
        for process in (*gateways.values(), server):
            try:
                process.wait(30)  # daphne drains for up to OMNI_SHUTDOWN_GRACE_SECONDS
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    from prometheus_client.parser import text_string_to_metric_families

    counted = sum(
        s.value
        for family in text_string_to_metric_families(body)
        if family.name == "mcp_server_operation_duration_seconds"
        for s in family.samples
        if s.name.endswith("_count") and s.labels.get("mcp_method_name") == "tools/call"
    )
    database = "DATABASE_URL" if os.environ.get("DATABASE_URL") else "sqlite"
    redis = "yes" if os.environ.get("REDIS_URL") else "no"
    print(
        f"\n{args.clients} concurrent SDK clients x {args.requests} tools/call per round, "
        f"{args.rounds} rounds, "
        f"downstream={args.downstream}, database={database}, redis={redis}"
    )
    print(f"{'round':26} {'ok':>6} {'err':>4} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for r in results:
        print(
            f"{r['label']:26} {r['ok']:6d} {r['errors']:4d} {r['rps']:8.1f} "
            f"{r['p50']:8.2f} {r['p95']:8.2f} {r['p99']:8.2f}"
        )
    for side in ("off", "on"):
        mine = [r for r in results if r["side"] == side]
        print(
            f"median metrics {side:3}: {statistics.median(r['rps'] for r in mine):8.1f} req/s, "
            f"p50 {statistics.median(r['p50'] for r in mine):.2f} ms, "
            f"p99 {statistics.median(r['p99'] for r in mine):.2f} ms"
        )
    sent = sum(r["ok"] + r["errors"] for r in results if r["side"] == "on") + args.clients * args.rounds
    print(
        f"/metrics of the 'on' process counts {counted:.0f} tools/call (sent {sent}, warm-up calls included)"
    )


if __name__ == "__main__":
    main()
