"""A failing E2E test saves a screenshot of its page in test-results/ (here: a temporary directory)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.e2e.conftest import screenshot_path
from tests.live import ROOT

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_a_failing_browser_test_saves_a_screenshot(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL", "CI")}
    # Its own session (embedded SQLite, no Redis): it must not wait for this session's database lock.
    env.update(OMNI_TEST_RESULTS=str(tmp_path), OMNI_VAR_DIR=str(tmp_path / "var"))
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/e2e/failing_example.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "1 failed" in done.stdout
    shots = list(tmp_path.glob("*.png"))
    assert len(shots) == 1, done.stdout[-3000:]
    assert shots[0].name.startswith("tests_e2e_failing_example.py_test_fails_with_a_page")
    assert shots[0].read_bytes().startswith(PNG_SIGNATURE) and shots[0].stat().st_size > 1000
    assert f"saved {shots[0]}" in done.stdout


def test_screenshot_names_are_safe_file_names():
    path = screenshot_path("tests/e2e/test_x.py::test_y[chromium-a/b c]")
    assert path.name == "tests_e2e_test_x.py_test_y_chromium-a_b_c.png"
