"""End-to-end fixtures: the site served by a real daphne on 127.0.0.1, and Debian's headless Chromium driven by
Playwright (no browser download: Playwright only drives the system's /usr/bin/chromium)."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, expect, sync_playwright

from scripts.private_redis import free_port
from tests.conftest import ROOT, process_env

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT = 30.0
# Every Playwright action and expectation waits at most this long unless a test says otherwise.
DEFAULT_TIMEOUT_MS = 15_000


def _wait_for_port(process: subprocess.Popen, port: int, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited early:\n{log_path.read_text(errors='replace')[-4000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"daphne did not listen within {timeout}s:\n{log_path.read_text(errors='replace')[-4000:]}")


@pytest.fixture(scope="module")
def live_server_url(django_db_setup) -> Iterator[str]:
    """daphne serving HTTP and WebSocket on one port, on the test database and Redis, as production runs it."""
    port = free_port()
    env = process_env(DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost", DJANGO_DEBUG="1")
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    log_path = Path(os.environ["REPORTSITE_TEST_RUN_DIR"]) / f"daphne-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "reportsite.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for_port(process, port, log_path, SERVER_START_TIMEOUT)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it where it can (Debian: apt-get install chromium)")
    # Playwright's sync API keeps an asyncio loop running on this thread, which Django takes for an async
    # context and refuses ORM calls in. The tests' own ORM calls are plain synchronous code, so allow them while
    # the browser is up (module scope: the rest of the suite runs without it).
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, timeout=30_000
        )
        yield browser
        browser.close()


@pytest.fixture
def browser_context(chromium: Browser, live_server_url: str) -> Iterator[BrowserContext]:
    """A fresh context (cookies, storage) per test; every wait in it is bounded."""
    context = chromium.new_context(
        base_url=live_server_url, viewport={"width": 1280, "height": 800}, accept_downloads=True
    )
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    context.set_default_navigation_timeout(DEFAULT_TIMEOUT_MS)
    expect.set_options(timeout=DEFAULT_TIMEOUT_MS)
    yield context
    context.close()
