"""Compare ASGI servers for the gateway: faults, graceful shutdown, tools/call speed. Prints figures;
asserts nothing.

    .venv/bin/python scripts/compare_servers.py [--servers daphne,uvicorn,granian] [--clients 4]
        [--requests 50] [--rounds 2] [--workers 2] [--skip-bench] [--skip-faults]

It makes a scratch environment like ``scripts/bench_gateway.py`` (SQLite under a temp dir unless
DATABASE_URL is set; REDIS_URL passed through) and serves ``tests.asgi_faults:application`` (the
platform plus test-only routes that misbehave, see that file) with each server, one process at a
time, with the flags of ``tests/live.py``'s ``server_command`` (the Procfile's):

* **poisoning**: ``/__fault__/explode`` (an exception escaping a started response) three times, then
  does the process still answer ``/__fault__/raise`` (an exception before the response: 500
  expected) and ``/healthz``?
* **SIGTERM**: an open event stream and 6 requests of 3 s in flight, then SIGTERM to the server's
  main process: how many requests got their full answer, did the stream end cleanly, was a new
  connection refused, how long until the process exited (grace 10 s).
* **tools/call**: N SDK clients through the gateway to the standalone utilities server, every
  server once per round, rounds interleaved (daphne, uvicorn, granian, daphne, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_gateway import prepare, rss_mib, wait_http  # noqa: E402

from tests.live import FAULT_APP, free_port, server_command  # noqa: E402

GRACE = 10.0


def start(server: str, env: dict[str, str], workers: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix=f"compare-{server}-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(  # noqa: S603
        server_command(server, FAULT_APP, port, workers=workers, grace=GRACE),
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    process.log_path = log.name  # type: ignore[attr-defined]
    wait_http(f"http://127.0.0.1:{port}/healthz", timeout=90)
    return process, port


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(GRACE + 10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def get(port: int, path: str, timeout: float = 5.0) -> str:
    """``"200 body…"``, or what went wrong (``no answer``, ``closed``, ``refused``)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        try:
            body = response.read()
        except http.client.IncompleteRead as exc:
            return f"{response.status} cut after {len(exc.partial)} bytes"
        return f"{response.status} {body[:40].decode(errors='replace')!r}"
    except TimeoutError:
        return f"no answer in {timeout:g}s"
    except ConnectionRefusedError:
        return "refused"
    except (http.client.HTTPException, OSError) as exc:
        return f"{type(exc).__name__}"
    finally:
        connection.close()


def poisoning(server: str, env: dict[str, str]) -> dict[str, str]:
    process, port = start(server, env, workers=1)
    try:
        first = get(port, "/__fault__/explode")
        for _ in range(2):
            get(port, "/__fault__/explode")
        after_raise = get(port, "/__fault__/raise")
        after_health = get(port, "/healthz")
        rss = rss_mib(process.pid if server != "granian" else _child(process.pid))
        return {
            "explode": first,
            "then raise": after_raise,
            "then healthz": after_health,
            "rss": f"{rss:.0f}",
        }
    finally:
        stop(process)


def _child(pid: int) -> int:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return int(children[0]) if children else pid


def sigterm(server: str, env: dict[str, str], workers: int) -> dict[str, str]:
    process, port = start(server, env, workers=workers)
    results: list[str] = []
    stream_result: list[str] = []

    def slow() -> None:
        results.append(get(port, "/__fault__/slow?ms=3000", timeout=30))

    def stream() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request("GET", "/__fault__/stream")
            response = connection.getresponse()
            body = response.read()
            stream_result.append("clean end" if b"event: end" in body else "ended without end event")
        except http.client.IncompleteRead:
            stream_result.append("cut (incomplete body)")
        except (http.client.HTTPException, OSError) as exc:
            stream_result.append(type(exc).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=stream)] + [threading.Thread(target=slow) for _ in range(6)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    started = time.monotonic()
    os.kill(process.pid, signal.SIGTERM)  # the main process only, as a container runtime does
    time.sleep(0.3)
    new_connection = get(port, "/healthz", timeout=3)
    try:
        process.wait(GRACE + 15)
        exited = f"{time.monotonic() - started:.1f}s (code {process.returncode})"
    except subprocess.TimeoutExpired:
        exited = "not within grace+15s"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    for thread in threads:
        thread.join(35)
    full = sum(1 for r in results if r.startswith("200 'slept 3000'"))
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    return {
        "requests complete": f"{full}/6",
        "stream": stream_result[0] if stream_result else "?",
        "new request": new_connection,
        "exit after": exited,
    }


async def bench_once(url: str, key: str, clients: int, requests: int) -> dict:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    latencies: list[float] = []
    errors = 0

    async def worker() -> None:
        nonlocal errors
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
            async with Client(streamable_http_client(url, http_client=http), cache=None) as client:
                await client.call_tool("utilities__calculate", {"expression": "1+1"})  # warm-up
                for _ in range(requests):
                    started = time.perf_counter()
                    try:
                        result = await client.call_tool("utilities__calculate", {"expression": "2*(3+4)"})
                        if result.is_error:
                            raise RuntimeError(result)
                    except Exception:
                        errors += 1
                        continue
                    latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [float("nan")] * 99
    return {
        "ok": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed,
        "p50": q[49],
        "p95": q[94],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--servers", default="daphne,uvicorn,granian")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=50, help="tools/call per client per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="worker processes (uvicorn, granian)")
    parser.add_argument("--skip-faults", action="store_true")
    parser.add_argument("--skip-bench", action="store_true")
    args = parser.parse_args()
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]

    scratch = Path(tempfile.mkdtemp(prefix="omni-compare-"))
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="omni.settings",
        OMNI_VAR_DIR=str(scratch),
        LOG_LEVEL="WARNING",
        OMNI_SHUTDOWN_GRACE_SECONDS=str(GRACE),
        PYTHONUNBUFFERED="1",
        # The downstream server listens on loopback, which the egress policy refuses by default.
        MCP_EGRESS_ALLOW=os.environ.get("MCP_EGRESS_ALLOW", "127.0.0.0/8"),
    )
    downstream_port = free_port()
    key = prepare(env, f"http://127.0.0.1:{downstream_port}/mcp", "http")
    database = "DATABASE_URL" if os.environ.get("DATABASE_URL") else "sqlite"
    redis = "yes" if os.environ.get("REDIS_URL") else "no"
    print(
        f"database={database} redis={redis} cpus={os.cpu_count()} load={os.getloadavg()[0]:.1f}", flush=True
    )

    if not args.skip_faults:
        print("\n== an exception escaping a started response (1 process): what happens next", flush=True)
        for server in servers:
            print(f"{server:8} {poisoning(server, env)}", flush=True)
        print(
            f"\n== SIGTERM with 6 requests of 3 s and one stream in flight, {args.workers} workers",
            flush=True,
        )
        for server in servers:
            workers = 1 if server == "daphne" else args.workers
            print(f"{server:8} {sigterm(server, env, workers)}", flush=True)

    if args.skip_bench:
        return
    downstream = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "mcp_servers.utilities", "--port", str(downstream_port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.environ.update(env)
    figures: dict[str, list[dict]] = {server: [] for server in servers}
    try:
        wait_http(f"http://127.0.0.1:{downstream_port}/mcp", timeout=90)
        for round_number in range(args.rounds):
            for server in servers:
                workers = 1 if server == "daphne" else args.workers
                process, port = start(server, env, workers)
                try:
                    result = asyncio.run(
                        bench_once(f"http://127.0.0.1:{port}/mcp", key, args.clients, args.requests)
                    )
                finally:
                    stop(process)
                figures[server].append(result)
                print(f"round {round_number + 1} {server:8} {result}", flush=True)
    finally:
        downstream.terminate()
        downstream.wait(10)
    print(
        f"\n== tools/call through the gateway: {args.clients} SDK clients x {args.requests} calls x "
        f"{args.rounds} rounds (interleaved); daphne 1 process, others {args.workers} workers"
    )
    print(f"{'server':8} {'ok':>6} {'err':>4} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8}  (median of rounds)")
    for server, runs in figures.items():
        ok = sum(r["ok"] for r in runs)
        err = sum(r["errors"] for r in runs)
        rps = statistics.median(r["rps"] for r in runs)
        p50 = statistics.median(r["p50"] for r in runs)
        p95 = statistics.median(r["p95"] for r in runs)
        print(f"{server:8} {ok:6d} {err:4d} {rps:8.1f} {p50:8.2f} {p95:8.2f}")


if __name__ == "__main__":
    main()
