"""The archive UI at ``/`` and the viewer at ``/viewer``: pages and built assets, and the small
JSON API they use beside DICOMweb (``/api/status``).

The pages are static files built from ``web-ui/`` (TypeScript, bundled by esbuild with
``tools/build_ui.sh``) and committed under ``web/static/``, so serving them needs no Node. They
talk to the archive only through DICOMweb (QIDO-RS, WADO-RS, STOW-RS) and the ``/api`` routes,
on the same port and behind the same authentication as everything else.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from dicomkit.web.context import context
from dicomkit.web.errors import WebError

STATIC = Path(__file__).with_name("static")
#: What a page may be: the file name under ``static/`` and its media type.
ASSET_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
               ".html": "text/html; charset=utf-8", ".svg": "image/svg+xml",
               ".map": "application/json"}
RECENT_EVENTS = 200
#: The UI's pages and bundles hold no patient data: they are served without credentials, so a
#: browser can load the page that then asks for a token (or whose first API call makes the
#: browser ask for a Basic user). Every request for data goes through DICOMweb or /api, behind
#: the archive's authentication.
PUBLIC_PATHS = ("/", "/index.html", "/viewer", "/ui/*")


class RecentEvents(logging.Handler):
    """The last log records of ``dicomkit`` (associations, stores, warnings and errors) kept in
    memory for the status page; per process, so a node behind a load balancer shows its own."""

    def __init__(self, capacity: int = RECENT_EVENTS) -> None:
        super().__init__(logging.INFO)
        self.records: collections.deque[dict[str, Any]] = collections.deque(maxlen=capacity)
        self.guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a badly formatted record must not break logging
            message = str(record.msg)
        with self.guard:
            self.records.append({"time": record.created, "level": record.levelname,
                                 "logger": record.name, "message": message[:500]})

    def snapshot(self) -> list[dict[str, Any]]:
        with self.guard:
            return list(self.records)


_events_lock = threading.Lock()


def recent_events() -> RecentEvents:
    """The process's one :class:`RecentEvents`, attached to the ``dicomkit`` logger on first
    use (by :func:`dicomkit.web.app.create_app`)."""
    with _events_lock:
        logger = logging.getLogger("dicomkit")
        for handler in logger.handlers:
            if isinstance(handler, RecentEvents):
                return handler
        handler = RecentEvents()
        logger.addHandler(handler)  # what reaches it follows the logger's level (serve: INFO)
        return handler


def asset(name: str) -> Response:
    """A built file from ``static/``; the hashed bundles are cached for a long time, the pages
    revalidated (so a new build is seen at once)."""
    path = STATIC / name
    suffix = path.suffix
    if "/" in name or name.startswith(".") or suffix not in ASSET_TYPES or not path.is_file():
        raise WebError(404, f"no UI asset {name!r}")
    cache = "no-cache" if suffix == ".html" else "public, max-age=3600"
    return FileResponse(path, media_type=ASSET_TYPES[suffix], headers={"Cache-Control": cache})


async def index_page(request: Request) -> Response:
    """``GET /``: the archive UI (study list, study page, upload, worklist, MPPS, status)."""
    return asset("index.html")


async def viewer_page(request: Request) -> Response:
    """``GET /viewer?study=UID``: the viewer."""
    return asset("viewer.html")


async def static_asset(request: Request) -> Response:
    return asset(request.path_params["name"])


async def status(request: Request) -> Response:
    """``GET /api/status``: counts, disk, peers, recent events and the UI build."""
    ctx = context(request)
    archive = ctx.archive
    counts = await asyncio.to_thread(archive.index.stats)
    try:
        usage = shutil.disk_usage(archive.files_dir)
        disk: dict[str, Any] = {"path": str(archive.files_dir), "total": usage.total,
                                "used": usage.used, "free": usage.free}
    except OSError as exc:
        disk = {"path": str(archive.files_dir), "error": str(exc)}
    events = recent_events().snapshot()
    build = STATIC / "BUILD"
    return JSONResponse({
        "time": time.time(),
        "ae_title": ctx.settings.ae_title,
        "counts": counts,
        "disk": disk,
        "peers": [{"name": name, "host": host, "port": port}
                  for name, (host, port) in sorted(ctx.settings.peers.items())],
        "events": events[::-1],
        "errors": [e for e in events[::-1] if e["level"] in ("WARNING", "ERROR", "CRITICAL")],
        "ui_build": build.read_text("utf-8").strip() if build.is_file() else None,
        "pid": os.getpid(),
    })


MAX_KEYWORD_TAGS = 5000


async def keywords(request: Request) -> Response:
    """``GET /api/keywords?tags=00100010,00080005``: the PS3.6 keywords of those tags (for the
    tag tree; unknown and private tags are left out)."""
    from dicomkit.core.dictionary import keyword_for_tag

    names = [t.strip() for t in request.query_params.get("tags", "").split(",") if t.strip()]
    if len(names) > MAX_KEYWORD_TAGS:
        raise WebError(400, f"at most {MAX_KEYWORD_TAGS} tags at a time")
    out = {}
    for name in names:
        if len(name) != 8 or any(c not in "0123456789abcdefABCDEF" for c in name):
            raise WebError(400, f"tags: {name[:20]!r} is not 8 hexadecimal digits")
        keyword = keyword_for_tag(int(name, 16))
        if keyword:
            out[name.upper()] = keyword
    return JSONResponse(out, headers={"Cache-Control": "public, max-age=86400"})


def routes() -> list[Route]:
    get = ["GET"]
    return [
        Route("/", index_page, methods=get),
        Route("/index.html", index_page, methods=get),
        Route("/viewer", viewer_page, methods=get),
        Route("/ui/{name}", static_asset, methods=get),
        Route("/api/status", status, methods=get),
        Route("/api/keywords", keywords, methods=get),
    ]


__all__ = ["PUBLIC_PATHS", "RecentEvents", "recent_events", "routes"]
