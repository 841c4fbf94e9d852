"""The DICOMweb application (PS3.18): routes under ``/dicom-web``, WADO-URI at ``/wado``,
capabilities (§8.9), errors as readable JSON, optional CORS and authentication.

:func:`create_app` builds a Starlette application on an :class:`~dicomkit.archive.store.Archive`;
``dicomkit serve`` runs it with uvicorn in the event loop of the DIMSE server.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from xml.sax.saxutils import escape

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from dicomkit.archive.store import Archive
from dicomkit.encoding.json import from_json
from dicomkit.encoding.xml import to_xml
from dicomkit.web import (
    deidentify,
    inventories,
    manage,
    mpps,
    print_queue,
    qido,
    rendered,
    stow,
    ui,
    uri,
    wado,
    worklist,
)
from dicomkit.web.audit import HttpAudit, WebAudit
from dicomkit.web.auth import Authentication
from dicomkit.web.context import ROOT, WebContext, WebSettings, accept
from dicomkit.web.errors import WebError, warning_header
from dicomkit.web.media import (
    DICOM_JSON,
    DICOM_XML,
    closing,
    multipart_content_type,
    negotiate_json_or_xml,
    new_boundary,
    part_head,
)

log = logging.getLogger("dicomkit.web")
Endpoint = Callable[[Request], Awaitable[Response]]

# -- QIDO-RS -------------------------------------------------------------------------------------


def _search(resource: str) -> Endpoint:
    async def search(request: Request) -> Response:
        ctx: WebContext = request.app.state.dicomweb
        fixed = {}
        if "study" in request.path_params:
            fixed[0x0020000D] = qido.check_uid(request.path_params["study"],
                                               "Study Instance UID")
        if "series" in request.path_params:
            fixed[0x0020000E] = qido.check_uid(request.path_params["series"],
                                               "Series Instance UID")
        xml = negotiate_json_or_xml(accept(request), "search results are") == "xml"
        search = qido.build_search(resource, fixed, list(request.query_params.multi_items()),
                                   ctx.settings.max_results)
        wanted = search.limit if search.limit is not None else ctx.settings.max_results
        index = ctx.archive.index
        base = ctx.base(request)
        warnings = list(search.warnings)
        more = ("there are more matches than returned: ask again with offset="
                f"{search.offset + wanted}")
        plan = qido.text_plan(search, base) if qido.SPLICES and not xml else None
        if plan is not None:
            # Results spliced from the stored texts (no JSON decoded), in the worker thread.
            def spliced() -> tuple[bytes, bool]:
                found = list(index.study_texts(search.query, limit=wanted + 1,
                                               offset=search.offset))
                texts = [qido.study_result(plan, stored) or qido.result_text(
                    search, index.merged(stored), base).encode("utf-8")
                    for stored in found[:wanted]]
                return b"[" + b",".join(texts) + b"]", len(found) > wanted

            body_bytes, truncated = await asyncio.to_thread(spliced)
            if truncated:
                warnings.append(more)
            headers = {"Warning": ", ".join(warning_header(w) for w in warnings)} \
                if warnings else {}
            return Response(body_bytes, headers=headers, media_type=DICOM_JSON)
        rows = await asyncio.to_thread(
            lambda: list(index.search(search.query, limit=wanted + 1, offset=search.offset)))
        if len(rows) > wanted:
            rows = rows[:wanted]
            warnings.append(more)
        headers = {"Warning": ", ".join(warning_header(w) for w in warnings)} if warnings \
            else {}
        if not xml:
            body = "[" + ",".join(qido.result_text(search, attrs, base) for attrs in rows) + "]"
            return Response(body.encode("utf-8"), headers=headers, media_type=DICOM_JSON)
        if not rows:
            return Response(status_code=204, headers=headers)
        boundary = new_boundary()
        parts = []
        for attrs in rows:
            document = to_xml(from_json(qido.result_text(search, attrs, base)))
            parts.append(part_head(boundary, f"{DICOM_XML}; charset=utf-8")
                         + document.encode("utf-8") + b"\r\n")
        return Response(b"".join(parts) + closing(boundary), headers=headers,
                        media_type=multipart_content_type(DICOM_XML, boundary))

    search.__name__ = f"search_{resource.replace('-', '_')}"
    return search


# -- capabilities (§8.9) --------------------------------------------------------------------------
RESOURCES: list[tuple[str, str, str]] = [
    # (path template, methods, what)
    ("/studies", "GET", "QIDO-RS: search for studies"),
    ("/studies", "POST", "STOW-RS: store instances"),
    ("/series", "GET", "QIDO-RS: search for series"),
    ("/instances", "GET", "QIDO-RS: search for instances"),
    ("/studies/{study}", "GET", "WADO-RS: retrieve a study"),
    ("/studies/{study}", "POST", "STOW-RS: store instances of a study"),
    ("/studies/{study}/metadata", "GET", "WADO-RS: study metadata"),
    ("/studies/{study}/deidentify", "POST",
     "store a de-identified copy as a new study (PS3.15 Annex E; dicomkit extension)"),
    ("/studies/{study}/rendered", "GET",
     "WADO-RS: rendered study (every frame of every image, multipart)"),
    ("/studies/{study}/thumbnail", "GET", "WADO-RS: study thumbnail (its middle image)"),
    ("/studies/{study}/series", "GET", "QIDO-RS: search for series of a study"),
    ("/studies/{study}/instances", "GET", "QIDO-RS: search for instances of a study"),
    ("/studies/{study}/series/{series}", "GET", "WADO-RS: retrieve a series"),
    ("/studies/{study}/series/{series}/metadata", "GET", "WADO-RS: series metadata"),
    ("/studies/{study}/series/{series}/rendered", "GET",
     "WADO-RS: rendered series (every frame of every image, multipart)"),
    ("/studies/{study}/series/{series}/thumbnail", "GET",
     "WADO-RS: series thumbnail (its middle image)"),
    ("/studies/{study}/series/{series}/instances", "GET",
     "QIDO-RS: search for instances of a series"),
    ("/studies/{study}/series/{series}/instances/{instance}", "GET",
     "WADO-RS: retrieve an instance"),
    ("/studies/{study}/series/{series}/instances/{instance}/metadata", "GET",
     "WADO-RS: instance metadata"),
    ("/studies/{study}/series/{series}/instances/{instance}/rendered", "GET",
     "WADO-RS: rendered instance (first frame)"),
    ("/studies/{study}/series/{series}/instances/{instance}/thumbnail", "GET",
     "WADO-RS: instance thumbnail"),
    ("/studies/{study}/series/{series}/instances/{instance}/frames/{frames}", "GET",
     "WADO-RS: frames"),
    ("/studies/{study}/series/{series}/instances/{instance}/frames/{frames}/rendered", "GET",
     "WADO-RS: a rendered frame"),
    ("/studies/{study}/series/{series}/instances/{instance}/frames/{frames}/thumbnail",
     "GET", "WADO-RS: a frame thumbnail"),
    ("/studies/{study}/series/{series}/instances/{instance}/bulkdata/{path}", "GET",
     "WADO-RS: bulk data by tag path"),
]


def capabilities_json(base: str) -> dict[str, Any]:
    return {
        "service": "dicomkit DICOMweb (PS3.18)",
        "root": base,
        "wado-uri": base.rsplit("/", 1)[0] + "/wado",
        "resources": [{"path": path, "method": method, "description": what}
                      for path, method, what in RESOURCES],
        "search": {
            "matching": "PS3.4 C.2.2.2 (single value, UID list, universal, wildcard, range, "
                        "sequence, empty value); the same engine as C-FIND",
            "parameters": ["{attributeID}={value}", "includefield", "fuzzymatching",
                           "limit", "offset"],
            "media types": [DICOM_JSON, f'multipart/related; type="{DICOM_XML}"'],
        },
        "retrieve media types": {
            "instances": 'multipart/related; type="application/dicom"; transfer-syntax=*',
            "metadata": [DICOM_JSON, f'multipart/related; type="{DICOM_XML}"'],
            "bulk data": ['multipart/related; type="application/octet-stream"',
                          "application/octet-stream (with Range)"],
            "frames": ['multipart/related; type="application/octet-stream"',
                       'multipart/related; type="image/*" (as stored)'],
            "rendered": ["image/jpeg", "image/png",
                         'multipart/related; type="image/jpeg" (studies, series)',
                         'multipart/related; type="image/png" (studies, series)'],
        },
        "store media types": ['multipart/related; type="application/dicom"'],
    }


def capabilities_wadl(base: str) -> str:
    """A WADL document (§8.9.1, application/vnd.sun.wadl+xml) of the resources."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<application xmlns="http://wadl.dev.java.net/2009/02">',
             f'  <resources base="{escape(base)}">']
    for path, method, what in RESOURCES:
        lines += [f'    <resource path="{escape(path)}">',
                  f'      <method name="{method}"><doc>{escape(what)}</doc></method>',
                  "    </resource>"]
    lines += ["  </resources>", "</application>", ""]
    return "\n".join(lines)


async def capabilities(request: Request) -> Response:
    ctx: WebContext = request.app.state.dicomweb
    base = ctx.base(request)
    for item in accept(request):
        if item.media_type in ("application/vnd.sun.wadl+xml", "application/xml"):
            return Response(capabilities_wadl(base), media_type="application/vnd.sun.wadl+xml")
        if item.media_type in (DICOM_JSON, "application/json", "application/*", "*/*"):
            break
    else:
        raise WebError(406, "capabilities are application/json or application/vnd.sun.wadl+xml")
    return JSONResponse(capabilities_json(base), headers=_allow(request, "GET, OPTIONS"))


def _allow(request: Request, fallback: str) -> dict[str, str]:
    methods: set[str] = set()
    for route in request.app.routes:
        scope = dict(request.scope, method="GET")
        match, _ = route.matches(scope)
        if match != Match.NONE and getattr(route, "methods", None):
            methods |= set(route.methods)
    methods.add("OPTIONS")
    return {"Allow": ", ".join(sorted(methods)) if len(methods) > 1 else fallback}


async def options(request: Request) -> Response:
    """OPTIONS: the methods of a resource; on the service root, the capabilities (§8.9)."""
    path = request.url.path.rstrip("/")
    if path in ("", ROOT):
        return await capabilities(request)
    headers = _allow(request, "OPTIONS")
    if headers["Allow"] == "OPTIONS":
        raise WebError(404, f"no resource {request.url.path}")
    return Response(status_code=204, headers=headers)


class Options:
    """OPTIONS on any resource (CORS preflights excepted, which CORSMiddleware answers)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "OPTIONS":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await options(request)
        except WebError as exc:
            response = error_response(exc.status, exc.reason, exc.headers)
        await response(scope, receive, send)


# -- errors ---------------------------------------------------------------------------------------
def error_response(status: int, reason: str, headers: dict[str, str] | None = None) -> Response:
    out = dict(headers or {})
    out.setdefault("Warning", warning_header(reason))
    return JSONResponse({"status": status, "reason": reason}, status_code=status, headers=out)


async def on_web_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WebError)
    if exc.status >= 500:
        log.error("%s %s: %s", request.method, request.url.path, exc.reason)
    return error_response(exc.status, exc.reason, exc.headers)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    reason = {404: f"no resource {request.url.path} (see {ROOT}/ for what there is)",
              405: f"{request.method} is not allowed on {request.url.path}"}.get(
        exc.status_code, str(exc.detail))
    return error_response(exc.status_code, reason, dict(exc.headers or {}))


async def on_failure(request: Request, exc: Exception) -> Response:
    log.exception("%s %s failed", request.method, request.url.path)
    return error_response(500, f"internal error: {type(exc).__name__}: {exc}")


# -- the application ----------------------------------------------------------------------------------
def routes() -> list[Route]:
    study = ROOT + "/studies/{study}"
    series = study + "/series/{series}"
    instance = series + "/instances/{instance}"
    frames = instance + "/frames/{frames}"
    get = ["GET"]
    table = [
        Route(ROOT, capabilities, methods=get),
        Route(ROOT + "/", capabilities, methods=get),
        Route(ROOT + "/studies", _search("studies"), methods=get),
        Route(ROOT + "/studies", stow.store, methods=["POST"]),
        Route(ROOT + "/series", _search("series"), methods=get),
        Route(ROOT + "/instances", _search("instances"), methods=get),
        Route(study, wado.retrieve, methods=get),
        Route(study, stow.store, methods=["POST"]),
        Route(study + "/metadata", wado.metadata, methods=get),
        Route(study + "/rendered", rendered.rendered, methods=get),
        Route(study + "/thumbnail", rendered.thumbnail, methods=get),
        Route(study + "/series", _search("study-series"), methods=get),
        Route(study + "/instances", _search("study-instances"), methods=get),
        Route(series, wado.retrieve, methods=get),
        Route(series + "/metadata", wado.metadata, methods=get),
        Route(series + "/rendered", rendered.rendered, methods=get),
        Route(series + "/thumbnail", rendered.thumbnail, methods=get),
        Route(series + "/instances", _search("study-series-instances"), methods=get),
        Route(instance, wado.retrieve, methods=get),
        Route(instance + "/metadata", wado.metadata, methods=get),
        Route(instance + "/rendered", rendered.rendered, methods=get),
        Route(instance + "/thumbnail", rendered.thumbnail, methods=get),
        Route(instance + "/bulkdata/{path:path}", wado.bulkdata, methods=get),
        Route(frames, wado.frames, methods=get),
        Route(frames + "/rendered", rendered.rendered, methods=get),
        Route(frames + "/thumbnail", rendered.thumbnail, methods=get),
        Route("/wado", uri.wado_uri, methods=get),
        Route(ROOT + "/wado", uri.wado_uri, methods=get),
        *mpps.routes(),
        *print_queue.routes(),
        *deidentify.routes(),
        *inventories.routes(),  # PS3.18 §12 NPI: /dicom-web/inventories
    ]
    table += worklist.routes()  # /api/worklist (web/worklist.py)
    table += manage.routes()  # DELETE, send to a peer (web/manage.py)
    table += ui.routes()  # the archive UI at / and the viewer (web/ui.py)
    return table


def create_app(archive: Archive, settings: WebSettings | None = None,
               audit: WebAudit | None = None) -> Starlette:
    settings = settings or WebSettings()
    middleware = []
    if audit is not None:  # outermost: it sees every answer, the 401s included
        middleware.append(Middleware(HttpAudit, auditor=audit.auditor, source=audit.source,
                                     service=audit.service, index=archive.index))
    if settings.cors_origins:
        middleware.append(Middleware(
            CORSMiddleware, allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"], allow_headers=["*"],
            allow_credentials="*" not in settings.cors_origins,
            expose_headers=["Warning", "Content-Range", "Content-Location", "Accept-Ranges"]))
    middleware.append(Middleware(Authentication, tokens=settings.bearer_tokens,
                                 users=settings.basic_users, jwt_settings=settings.jwt,
                                 public=ui.PUBLIC_PATHS))
    middleware.append(Middleware(Options))
    app = Starlette(routes=routes(), middleware=middleware, exception_handlers={
        WebError: on_web_error, HTTPException: on_http_error, Exception: on_failure})
    app.state.dicomweb = WebContext(archive, settings)
    app.state.send_jobs = manage.SendJobs()
    ui.recent_events()  # the status page's recent events, from now on
    return app


__all__ = ["WebSettings", "create_app"]
