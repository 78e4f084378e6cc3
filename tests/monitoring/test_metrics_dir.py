"""scripts/metrics_dir.sh: empties the multiprocess directory before a deployment starts, and
refuses while a process still has its files mapped (wiping then would lose that process's samples)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.live import ROOT

SCRIPT = ROOT / "scripts" / "metrics_dir.sh"
WRITER = """
import sys, time
from prometheus_client import Counter
Counter("omni_dir_test", "test").inc()
print("ready", flush=True)
sys.stdin.readline()
"""


def run_script(directory) -> subprocess.CompletedProcess:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    return subprocess.run(  # noqa: S603
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60
    )


def test_wipes_when_idle_and_refuses_while_in_use(tmp_path):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    writer = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", WRITER], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout.readline().strip() == "ready"
        assert list(tmp_path.glob("counter_*.db"))
        busy = run_script(tmp_path)
        assert busy.returncode != 0 and str(writer.pid) in busy.stderr
        assert list(tmp_path.glob("counter_*.db"))  # nothing removed
    finally:
        writer.communicate("\n", timeout=30)
    done = run_script(tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"export PROMETHEUS_MULTIPROC_DIR={tmp_path}"
    assert not list(tmp_path.glob("*.db"))


def test_refuses_dangerous_directories():
    assert run_script("/").returncode != 0
