"""DICOMweb from a web page on another origin, in a real browser (Debian's chromium through
Playwright): the CORS preflight of a request with ``Authorization`` (Fetch standard §3.2.2; what
every browser viewer in front of DICOMweb sends) is answered, the request then succeeds, and a
page on an origin not allowed is refused by the browser. The browser has WebGL 2, which the
viewers (OHIF's cornerstone3D) render with."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support.browser import NetworkLog
from tests.support.servers import Serve, ServeFactory, free_port, wait_for_port

TOKEN = "browser-s3cret"
PAGE = b"<!doctype html><title>viewer</title><canvas id=c width=4 height=4></canvas>"


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def pages() -> Iterator[tuple[str, str]]:
    """Two page origins (127.0.0.1:P1 allowed, 127.0.0.1:P2 not) served by http.server."""
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _Page) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield tuple(f"http://127.0.0.1:{s.server_address[1]}" for s in servers)  # type: ignore
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def archive(module_serve: ServeFactory, pages: tuple[str, str],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Serve, str]]:
    http_port = free_port()
    data = tmp_path_factory.mktemp("cors")
    server = module_serve(data, args=["--http-port", str(http_port), "--no-fsync",
                                      "--cors-origin", pages[0], "--http-token", TOKEN])
    wait_for_port(http_port, server.proc, describe=server.describe)
    yield server, f"http://127.0.0.1:{http_port}/dicom-web"
    assert server.stop() == 0, server.log_tail()


FETCH = """async ([url, token]) => {
  try {
    const r = await fetch(url, {headers: {Authorization: 'Bearer ' + token,
                                          Accept: 'application/dicom+json'}});
    return {status: r.status, body: await r.text()};
  } catch (e) { return {status: 0, body: String(e)}; }
}"""


def test_the_browser_has_webgl2(page: Any, pages: tuple[str, str]) -> None:
    page.goto(pages[0])
    assert page.evaluate("!!document.getElementById('c').getContext('webgl2')")


def test_a_preflighted_request_with_authorization_from_an_allowed_origin_succeeds(
        page: Any, pages: tuple[str, str], archive: tuple[Serve, str]) -> None:
    server, root = archive
    log = NetworkLog.watch(page)
    page.goto(pages[0])
    answer = page.evaluate(FETCH, [root + "/studies?includefield=all", TOKEN])
    assert answer == {"status": 200, "body": "[]"}, server.log_tail()
    assert not log.errors and not log.failures, log.describe()


def test_a_wrong_token_is_a_401_the_page_can_read(page: Any, pages: tuple[str, str],
                                                  archive: tuple[Serve, str]) -> None:
    _server, root = archive
    page.goto(pages[0])
    answer = page.evaluate(FETCH, [root + "/studies", "wrong"])
    assert answer["status"] == 401


def test_a_page_on_an_origin_not_allowed_is_refused_by_the_browser(
        page: Any, pages: tuple[str, str], archive: tuple[Serve, str]) -> None:
    _server, root = archive
    page.goto(pages[1])
    answer = page.evaluate(FETCH, [root + "/studies", TOKEN])
    assert answer["status"] == 0 and "Failed to fetch" in answer["body"]


def test_a_missing_chromium_fails_the_test_with_how_to_install_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.browser import find_chromium

    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y chromium"):
        find_chromium()
