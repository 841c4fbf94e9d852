"""A real browser for the tests: Debian's ``chromium`` driven by Playwright (Python).

Playwright's own browser download is not available here, so the browser is the system's
``chromium`` (``apt-get install chromium``; ``tools/test.sh`` installs it as it installs DCMTK).
It is missing → the test FAILS with the reason, it never skips.

- :class:`Chromium` is one headless chromium process per test session (per xdist worker),
  started with ``--remote-debugging-port=0``; its DevTools endpoint is read from the
  ``DevToolsActivePort`` file chromium writes into its profile folder. It is stopped by PID.
- :func:`connect` attaches Playwright's synchronous API to it over CDP for the length of a
  ``with`` block (the ``browser`` fixture: one module). Playwright's synchronous API keeps an
  event loop marked as running in the thread while it is started, so ``asyncio.run`` in any
  later test of the same worker would fail: that is why the Playwright driver lives per module
  and only the browser process per session.
- :class:`NetworkLog` records what a page asked for and every answer of 400 or more, and every
  request that failed, so a test can assert that a web application got no error from us.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser")
START_DEADLINE = 30.0
MISSING = ("Debian's chromium is not installed (apt-get install -y chromium; tools/test.sh "
           "installs it): the browser tests need it")


def find_chromium() -> str:
    """The chromium executable, or fail the test with how to install it."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(MISSING, pytrace=False)


def _playwright() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the Python package playwright is not installed (pip install -e "
                    "'.[test]')", pytrace=False)
    return sync_playwright


@dataclass
class Chromium:
    """One headless chromium process; ``endpoint`` is its DevTools websocket URL."""

    executable: str
    proc: subprocess.Popen[bytes] | None = None
    profile: Path | None = None
    endpoint: str = ""
    log_path: Path | None = None

    def start(self) -> Chromium:
        self.profile = Path(tempfile.mkdtemp(prefix="dicomkit-chromium-"))
        self.log_path = self.profile / "chromium.log"
        argv = [self.executable, "--headless", "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1", f"--user-data-dir={self.profile}",
                "--no-first-run", "--no-default-browser-check", "--disable-gpu-sandbox",
                "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
                # WebGL through SwiftShader (software): the viewers render with WebGL
                "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"]
        if os.geteuid() == 0:
            argv.append("--no-sandbox")  # chromium refuses to run as root with its sandbox
        argv.append("about:blank")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        port_file = self.profile / "DevToolsActivePort"
        end = time.monotonic() + START_DEADLINE
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                pytest.fail(f"chromium ({self.executable}) exited with {self.proc.returncode} "
                            f"before listening:\n{self.log_tail()}", pytrace=False)
            lines = port_file.read_text().split() if port_file.exists() else []
            if len(lines) >= 2:
                self.endpoint = f"ws://127.0.0.1:{lines[0]}{lines[1]}"
                return self
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"chromium did not open its DevTools port in {START_DEADLINE} s:\n"
                    f"{self.log_tail()}", pytrace=False)

    def log_tail(self, size: int = 3000) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-size:]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # the process group chromium leads (start_new_session): its helpers too
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if self.profile is not None:
            shutil.rmtree(self.profile, ignore_errors=True)


def start_chromium() -> Chromium:
    return Chromium(find_chromium()).start()


@contextmanager
def connect(chromium: Chromium) -> Iterator[Any]:
    """Playwright's synchronous ``Browser`` on the running chromium, for a ``with`` block."""
    playwright = _playwright()().start()
    try:
        browser = playwright.chromium.connect_over_cdp(chromium.endpoint)
        yield browser
    finally:
        playwright.stop()


@contextmanager
def new_page(browser: Any, width: int = 1280, height: int = 800) -> Iterator[Any]:
    """A page in a fresh browser context (no cookies, cache or storage shared with others)."""
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        yield context.new_page()
    finally:
        context.close()


@dataclass
class NetworkLog:
    """The requests of a page: every URL asked for, errors (status >= 400) and failures."""

    requests: list[tuple[str, str]] = field(default_factory=list)   # (method, url)
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # (status, method, url)
    failures: list[tuple[str, str]] = field(default_factory=list)     # (url, reason)
    console: list[str] = field(default_factory=list)                   # console errors

    @classmethod
    def watch(cls, page: Any) -> NetworkLog:
        log = cls()
        page.on("request", lambda r: log.requests.append((r.method, r.url)))
        page.on("response", lambda r: log.errors.append((r.status, r.request.method, r.url))
                if r.status >= 400 else None)
        page.on("requestfailed", lambda r: log.failures.append((r.url, r.failure or "")))
        page.on("console", lambda m: log.console.append(m.text) if m.type == "error" else None)
        return log

    def from_origin(self, origin: str) -> NetworkLog:
        """Only what went to ``origin`` (e.g. ``http://127.0.0.1:8042``)."""
        return NetworkLog([r for r in self.requests if r[1].startswith(origin)],
                          [e for e in self.errors if e[2].startswith(origin)],
                          [f for f in self.failures if f[0].startswith(origin)],
                          list(self.console))

    def describe(self) -> str:
        lines = [f"{status} {method} {url}" for status, method, url in self.errors]
        lines += [f"failed {url}: {reason}" for url, reason in self.failures]
        return "\n".join(lines) or "no errors"
