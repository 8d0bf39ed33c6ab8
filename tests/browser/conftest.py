"""End-to-end fixtures: Debian's headless Chromium driven by Playwright (no browser download: Playwright only drives
the system's /usr/bin/chromium), on the site that tests/conftest.py's `live_server_url` serves with a real daphne."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, expect, sync_playwright

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
# Every Playwright action and expectation waits at most this long unless a test says otherwise.
DEFAULT_TIMEOUT_MS = 15_000


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
