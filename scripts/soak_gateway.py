"""Soak: constant mixed MCP traffic on two gateway processes for a bounded time. Prints, at each
sample, what must stay flat: RSS and open file descriptors of each process, Redis keys and memory,
PostgreSQL connections. Asserts nothing; the last lines compare the first and last samples.

    DATABASE_URL=postgres://… REDIS_URL=redis://…/N \\
        .venv/bin/python scripts/soak_gateway.py [--seconds 180] [--sample 15] [--clients 6]

Needs PostgreSQL and Redis (the production shape). It migrates the database named by DATABASE_URL
(use a scratch one), creates (as ``scripts/bench_gateway.py`` does) an organization ``bench``
without rate limits, a key and the in-process ``utilities`` server, and starts two processes with
the Procfile's server (granian, one worker each) on free ports. Each client loops, alternating
between the two processes: a 2026-07-28 ``tools/call``; a handshake session (``initialize``,
``tools/list``, ``tools/call``, DELETE); a legacy HTTP+SSE session (``/sse``, a call, close).
Every loop stops at the deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_gateway import free_port, prepare, rss_mib, wait_http  # noqa: E402


def fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def worker_pid(pid: int) -> int:
    """granian's worker (the child of its main process), whose memory is the gateway's."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.2)
    return pid


def start_gateway(env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    port = free_port()
    binary = Path(sys.executable).with_name("granian")
    command = [str(binary), "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--loop", "uvloop", "--workers", "1", "omni.asgi:application"]
    log = tempfile.NamedTemporaryFile(prefix="soak-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(  # noqa: S603
        command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    wait_http(f"http://127.0.0.1:{port}/healthz", timeout=120)
    return process, port


def redis_figures(url: str) -> tuple[int, float]:
    import redis

    client = redis.Redis.from_url(url)
    try:
        return int(client.dbsize()), int(client.info("memory")["used_memory"]) / 1024 / 1024
    finally:
        client.close()


def pg_connections(url: str) -> int:
    import psycopg

    name = urlparse(url).path.lstrip("/")
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("select count(*) from pg_stat_activity where datname = %s", (name,)).fetchone()
    return int(row[0]) if row else -1


async def client_loop(urls: list[str], key: str, deadline: float, counts: dict[str, int]) -> None:
    import httpx2
    from mcp import Client
    from mcp.client.sse import sse_client
    from mcp.client.streamable_http import streamable_http_client

    headers = {"Authorization": f"Bearer {key}"}
    turn = 0
    while time.monotonic() < deadline:
        base = urls[turn % len(urls)]
        kind = ("modern", "handshake", "sse")[turn % 3]
        turn += 1
        try:
            if kind == "sse":
                async with Client(sse_client(f"{base}/sse", headers=headers), mode="legacy") as client:
                    await client.call_tool("utilities__calculate", {"expression": "6*7"})
            else:
                async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
                    transport = streamable_http_client(f"{base}/mcp", http_client=http)
                    mode = "legacy" if kind == "handshake" else "auto"
                    async with Client(transport, mode=mode) as client:
                        if kind == "handshake":
                            await client.list_tools()
                        await client.call_tool("utilities__calculate", {"expression": "6*7"})
            counts["ok"] += 1
        except Exception:  # noqa: BLE001 - counted and printed, the soak goes on
            counts["errors"] += 1


def sample(started: float, pids: list[int], counts: dict[str, int], redis_url: str, db_url: str) -> dict:
    keys, memory = redis_figures(redis_url)
    return {
        "t": time.monotonic() - started,
        "ok": counts["ok"],
        "errors": counts["errors"],
        "rss": [rss_mib(pid) for pid in pids],
        "fds": [fds(pid) for pid in pids],
        "keys": keys,
        "redis_mib": memory,
        "pg": pg_connections(db_url),
    }


def show(row: dict) -> None:
    rss = " ".join(f"{value:6.1f}" for value in row["rss"])
    fd = " ".join(f"{value:4d}" for value in row["fds"])
    print(
        f"{row['t']:6.0f}s  exchanges {row['ok']:6d} (errors {row['errors']:3d})  RSS MiB {rss}  fds {fd}"
        f"  redis keys {row['keys']:5d} {row['redis_mib']:6.2f} MiB  pg conns {row['pg']:3d}",
        flush=True,
    )


async def soak(args: argparse.Namespace, urls: list[str], key: str, pids: list[int]) -> None:
    counts = {"ok": 0, "errors": 0}
    started = time.monotonic()
    deadline = started + args.seconds
    redis_url, db_url = os.environ["REDIS_URL"], os.environ["DATABASE_URL"]
    loops = [asyncio.create_task(client_loop(urls, key, deadline, counts)) for _ in range(args.clients)]
    rows = []
    try:
        while time.monotonic() < deadline:
            await asyncio.sleep(min(args.sample, max(deadline - time.monotonic(), 0)))
            row = await asyncio.to_thread(sample, started, pids, counts, redis_url, db_url)
            rows.append(row)
            show(row)
    finally:
        await asyncio.gather(*loops, return_exceptions=True)
    if len(rows) >= 2:
        # The first sample is taken after warm-up traffic; growth is judged from there.
        first, last = rows[0], rows[-1]
        rate = (last["ok"] - first["ok"]) / max(last["t"] - first["t"], 1e-9)
        print(f"\nexchanges/s between the first and last sample: {rate:.1f}")
        for index in range(len(pids)):
            print(
                f"process {index + 1}: RSS {first['rss'][index]:.1f} -> {last['rss'][index]:.1f} MiB, "
                f"fds {first['fds'][index]} -> {last['fds'][index]}"
            )
        print(f"redis keys {first['keys']} -> {last['keys']}, memory {first['redis_mib']:.2f} -> "
              f"{last['redis_mib']:.2f} MiB; pg connections {first['pg']} -> {last['pg']}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--sample", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=6)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
        raise SystemExit("set DATABASE_URL (PostgreSQL, a scratch database) and REDIS_URL")
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="omni.settings", PYTHONUNBUFFERED="1")
    env.setdefault("OMNI_VAR_DIR", tempfile.mkdtemp(prefix="omni-soak-"))
    key = prepare(env, "", "inprocess")
    processes = []
    try:
        for _ in range(2):
            processes.append(start_gateway(env))
        pids = [worker_pid(process.pid) for process, _ in processes]
        urls = [f"http://127.0.0.1:{port}" for _, port in processes]
        print(f"soak: {args.seconds:g}s, {args.clients} clients, processes {pids}", flush=True)
        asyncio.run(soak(args, urls, key, pids))
    finally:
        for process, _ in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 15)
        for process, _ in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(30)


if __name__ == "__main__":
    main()
