#!/usr/bin/env python
"""What ONE load-generator process drives (``omni.loadtest.generator.run_shard``).

Starts the trivial JSON-RPC server (``omni.loadtest.generator.trivial_server``: a raw ASGI app that
answers ``tools/call`` at once) in a subprocess served by granian (``--server uvicorn`` for
uvicorn; ``--server-workers`` processes), then runs shards against it from this process: the
closed model at several user counts and the open model at a few rates, and prints requests/s,
latency percentiles, the generator's CPU per request, its open-model lag and RSS.

    .venv/bin/python scripts/bench_loadgen.py [--duration 5] [--users 1,10,50,200]
        [--rates 200,500,1000] [--server granian|uvicorn] [--server-workers 1] [--uvloop]
        [--target http://127.0.0.1:8000/mcp --key omni_… --tool utilities__calculate
         --arguments '{"expression": "{{ random.int(1, 99) }} * 7"}']

With ``--target`` no trivial server is started: the same loads go to that MCP endpoint (a running
gateway with an organization's API key, for example), calling ``--tool`` with ``--arguments``.

On a machine with few cores the server and the generator share them: the CPU per request of the
generator is the figure that says how far one generator process goes (1 / cpu-per-request).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omni.settings")
APP = "omni.loadtest.generator.trivial_server:app"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def trivial_server(server: str, workers: int):
    port = free_port()
    binary = Path(sys.executable).with_name(server)
    if server == "granian":
        command = [str(binary), "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port),
                   "--loop", "uvloop", "--workers", str(workers), "--log-level", "warning", APP]  # fmt: skip
    else:
        command = [str(binary), APP, "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop",
                   "--http", "httptools", "--no-access-log", "--log-level", "warning",
                   "--workers", str(workers)]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        for _ in range(300):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            if process.poll() is not None:
                raise SystemExit(f"{server} exited with {process.returncode}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(10)


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


TOOL = {"name": "echo", "arguments": {"n": "{{ random.int(1, 1000) }}", "who": "u{{ vu }}"}}
HEADERS: dict[str, str] = {}


def spec(url: str, arrival: dict, duration: float) -> dict:
    return {
        "run": "bench", "phase": "main", "index": 0, "shards": 1, "mode": "2026-07-28",
        "endpoints": [{"org": "bench", "url": url, "headers": HEADERS, "weight": 1}],
        "operations": [{"label": "echo", "kind": "tools/call", "weight": 1, **TOOL}],
        "arrival": arrival, "warmup_s": 1.0, "duration_s": duration, "timeout_s": 10.0, "seed": 1,
        "samples": 2000,
    }  # fmt: skip


def line(name: str, result: dict) -> str:
    from omni.loadtest import hdr

    op = result["operations"]["echo"]
    s = hdr.summary_ms(hdr.decode(op["hist"]))
    if op["errors"]:
        print(f"  errors: {op['errors']}")
    n = op["count"]
    errors = sum(op["errors"].values())
    gen = result["generator"]
    cpu_us = gen["cpu_s"] / n * 1e6 if n else 0.0
    return (
        f"{name:<22} {n / result['duration_s']:>9.0f} {s.get('p50', 0):>8.2f} {s.get('p95', 0):>8.2f} "
        f"{s.get('p99', 0):>8.2f} {errors:>6} {cpu_us:>9.0f} "
        f"{gen['cpu_s'] / result['duration_s'] * 100:>6.0f}% "
        f"{gen['lag_ms_p99']:>8.2f} {rss_mb():>7.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--users", default="1,10,50,200")
    parser.add_argument("--rates", default="200,500,1000")
    parser.add_argument("--server", default="granian", choices=["granian", "uvicorn"])
    parser.add_argument("--server-workers", type=int, default=1)
    parser.add_argument("--uvloop", action="store_true", help="run the generator on uvloop")
    parser.add_argument("--target", help="an MCP endpoint to load instead of the trivial server")
    parser.add_argument("--key", help="the API key for --target (Authorization: Bearer)")
    parser.add_argument("--tool", default="utilities__calculate", help="the tool --target calls")
    parser.add_argument("--arguments", default='{"expression": "{{ random.int(1, 99) }} * 7"}')
    args = parser.parse_args()
    if args.target:
        import json

        TOOL.update(name=args.tool, arguments=json.loads(args.arguments))
        if args.key:
            HEADERS["Authorization"] = f"Bearer {args.key}"

    import django

    django.setup()
    from omni.loadtest.generator import run_shard

    runner = asyncio.run
    if args.uvloop:
        import uvloop

        runner = uvloop.run
    loop_name = "uvloop" if args.uvloop else "asyncio"
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, server {args.server} "
        f"x{args.server_workers}, generator loop {loop_name}, {args.duration:g}s per point"
    )
    columns = ("req/s", 9), ("p50 ms", 8), ("p95 ms", 8), ("p99 ms", 8), ("errors", 6)
    columns += ("cpu µs/req", 9), ("cpu", 7), ("lag p99", 8), ("RSS MB", 7)
    header = f"{'load':<22} " + " ".join(f"{name:>{width}}" for name, width in columns)
    print(header)
    target = (
        contextlib.nullcontext(args.target)
        if args.target
        else trivial_server(args.server, args.server_workers)
    )
    if args.target:
        print(f"target {args.target}, tool {TOOL['name']}")
    with target as url:
        runner(run_shard(spec(url, {"model": "closed", "users": 4}, 1.0)))  # the server's first requests
        for users in [int(u) for u in args.users.split(",") if u]:
            result = runner(
                run_shard(spec(url, {"model": "closed", "users": users, "think_ms": 0}, args.duration))
            )
            print(line(f"closed {users} users", result), flush=True)
        for rate in [float(r) for r in args.rates.split(",") if r]:
            arrival = {"model": "open", "rate": rate, "max_in_flight": 1000}
            result = runner(run_shard(spec(url, arrival, args.duration)))
            print(line(f"open {rate:g}/s", result), flush=True)


if __name__ == "__main__":
    main()
