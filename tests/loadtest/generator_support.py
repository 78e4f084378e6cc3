"""Helpers of the generator's tests: the trivial JSON-RPC server in a real uvicorn process, and
shard specs."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from omni.loadtest import hdr
from tests.live import ROOT, free_port

TRIVIAL_APP = "omni.loadtest.generator.trivial_server:app"


@contextlib.contextmanager
def trivial_server() -> Iterator[str]:
    """``uvicorn omni.loadtest.generator.trivial_server:app`` on a free port; yields the base URL."""
    port = free_port()
    binary = Path(sys.executable).with_name("uvicorn")
    process = subprocess.Popen(  # noqa: S603
        [str(binary), TRIVIAL_APP, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        for _ in range(300):  # bounded: 30 s
            if process.poll() is not None:
                raise RuntimeError(f"the trivial server exited with {process.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("the trivial server did not listen within 30 s")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def server_log(base: str, *, clear: bool = False) -> dict[str, Any]:
    request = urllib.request.Request(f"{base}/log", method="DELETE" if clear else "GET")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (our own server)
        return json.loads(response.read())


def spec(
    url: str,
    operations: list[dict[str, Any]],
    *,
    mode: str = "2026-07-28",
    arrival: dict[str, Any] | None = None,
    warmup_s: float = 0.0,
    duration_s: float = 2.0,
    timeout_s: float = 5.0,
    seed: int = 7,
    samples: int = 50,
    headers: dict[str, str] | None = None,
    org: str = "org-a",
    endpoints: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "run": "00000000000000000000000000000000",
        "phase": "main",
        "index": 0,
        "shards": 1,
        "mode": mode,
        "endpoints": endpoints or [{"org": org, "url": url, "headers": headers or {}, "weight": 1.0}],
        "operations": operations,
        "arrival": arrival or {"model": "closed", "users": 2, "think_ms": 0},
        "warmup_s": warmup_s,
        "duration_s": duration_s,
        "timeout_s": timeout_s,
        "seed": seed,
        "samples": samples,
        **extra,
    }


def assert_consistent(result: dict[str, Any]) -> None:
    """Every HTTP request is counted once in the timeline, once per organization and once under its
    operation; every histogram holds exactly its count; errors never exceed counts."""
    requests = sum(op["count"] for op in result["operations"].values() if not op.get("scenario"))
    assert sum(second["count"] for second in result["timeline"]) == requests
    assert sum(org["count"] for org in result["orgs"].values()) == requests
    assert hdr.merge(s["hist"] for s in result["timeline"]).get_total_count() == requests
    assert hdr.merge(o["hist"] for o in result["orgs"].values()).get_total_count() == requests
    for label, op in result["operations"].items():
        assert hdr.decode(op["hist"]).get_total_count() == op["count"], label
        assert sum(op["errors"].values()) <= op["count"], label
        assert len(op["samples"]) <= 50 and len(op["samples"]) == min(50, op["count"]), label
    assert sum(s["errors"] for s in result["timeline"]) == sum(
        sum(op["errors"].values()) for op in result["operations"].values() if not op.get("scenario")
    )


async def warm(shard_spec: dict[str, Any], *, limit_s: float = 60.0) -> None:
    """Send ``shard_spec``'s load until the first request finishes (at most ``limit_s``): a fresh
    server's first tool call starts its worker pool, seconds on a busy machine."""
    from omni.loadtest.generator import run_shard

    finished: list[int] = []
    await run_shard(
        {**shard_spec, "warmup_s": 0, "duration_s": limit_s, "timeout_s": limit_s},
        on_tick=lambda tick: finished.append(tick["count"]),
        is_cancelled=lambda: sum(finished) > 0,
    )
    assert sum(finished) > 0, "the target never answered"
