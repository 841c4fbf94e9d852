"""Serving an OHIF Viewer build (npm ``@ohif/app``'s ``dist/``) on a port of its own, pointed
at this archive's DICOMweb service: ``dicomkit serve --ohif DIR [--ohif-port N]``.

OHIF's built app expects to sit at the root of its origin (its ``index.html`` loads
``/app-config.js`` and its bundles by absolute path, and its router owns every other path), and
it ships with an ``app-config.js`` that points at a public demo server. So it gets an origin of
its own: the files of the build as they are, an ``index.html`` for any path that is not a file
(its router's pages: ``/viewer?StudyInstanceUIDs=…``; the build's own ``_redirects`` rule), and
an ``app-config.js`` written here, for each request, that names this archive's DICOMweb roots
as the browser reaches them (the host of the request, the DICOMweb port). Nothing of OHIF is
changed or shipped with dicomkit.

The data source is OHIF's DICOMweb one (``@ohif/extension-default.dataSourcesModule.dicomweb``)
with what dicomkit answers per PS3.18: QIDO-RS ``includefield`` and ``fuzzymatching`` and
wildcards (§8.3.4), study metadata (§10.4.1.1.2), frames as ``multipart/related;
type="application/octet-stream"; transfer-syntax=*`` (§8.7.3.5.2), bulk data URIs, thumbnails
(§10.4.1.1.3, ``thumbnailRendering: "thumbnail"``), STOW-RS upload, not ``staticWado``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

DATA_SOURCE = "@ohif/extension-default.dataSourcesModule.dicomweb"
SOURCE_NAME = "dicomkit"


class OhifBuildError(ValueError):
    """The folder given is not an OHIF build (no ``index.html`` in it or in its ``dist/``)."""


def find_build(directory: str | os.PathLike[str]) -> Path:
    """The folder of an OHIF build: ``directory`` itself when it holds ``index.html``, or its
    ``dist/`` (an extracted ``npm pack @ohif/app``, whose files are under ``package/dist``,
    is found from ``package`` or from the folder holding ``package``)."""
    root = Path(directory)
    if not root.is_dir():
        raise OhifBuildError(f"--ohif {directory}: no such folder")
    for candidate in (root, root / "dist", root / "package" / "dist"):
        if (candidate / "index.html").is_file():
            return candidate.resolve()
    raise OhifBuildError(f"--ohif {directory}: not an OHIF build (no index.html in it, in "
                         "its dist/ or in package/dist/; extract `npm pack @ohif/app` there)")


@dataclass
class OhifSettings:
    """Where the DICOMweb service is, as the browser should reach it.

    ``dicomweb_port`` and ``dicomweb_scheme`` name the DICOMweb listener (set once it listens);
    ``base_url``, when the archive sits behind a reverse proxy, replaces both with the public
    root (``http_base_url``)."""

    build: Path
    dicomweb_port: int = 8042
    dicomweb_scheme: str = "http"
    base_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # more data source configuration

    def dicomweb_root(self, request: Request) -> str:
        if self.base_url:
            return self.base_url.rstrip("/")
        host = request.url.hostname or "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"{self.dicomweb_scheme}://{host}:{self.dicomweb_port}/dicom-web"


def data_source(root: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """OHIF's DICOMweb data source configuration for a dicomkit DICOMweb root (the keys are
    those of OHIF's ``platform/app/public/config/*.js``)."""
    configuration: dict[str, Any] = {
        "friendlyName": "dicomkit",
        "name": "dicomkit",
        "qidoRoot": root,
        "wadoRoot": root,
        "wadoUriRoot": root.rsplit("/", 1)[0] + "/wado",
        "qidoSupportsIncludeField": True,
        "supportsFuzzyMatching": True,
        "supportsWildcard": True,
        "staticWado": False,
        "imageRendering": "wadors",
        "thumbnailRendering": "thumbnail",
        "enableStudyLazyLoad": True,
        "dicomUploadEnabled": True,
        "supportsReject": False,
        "singlepart": "bulkdata,video",
        "omitQuotationForMultipartRequest": True,
        "bulkDataURI": {"enabled": True},
    }
    configuration.update(extra or {})
    return {"namespace": DATA_SOURCE, "sourceName": SOURCE_NAME,
            "configuration": configuration}


def app_config(root: str, extra: dict[str, Any] | None = None) -> str:
    """The text of ``app-config.js``: OHIF's own defaults (``config/default.js``) with the one
    data source, dicomkit's, and no investigational-use dialog."""
    config = {
        "routerBasename": None,
        "extensions": [],
        "modes": [],
        "customizationService": {},
        "showStudyList": True,
        "maxNumberOfWebWorkers": 3,
        "showWarningMessageForCrossOrigin": False,
        "showCPUFallbackMessage": True,
        "showLoadingIndicator": True,
        "strictZSpacingForVolumeViewport": True,
        "maxNumRequests": {"interaction": 100, "thumbnail": 5, "prefetch": 25},
        "investigationalUseDialog": {"option": "never"},
        "defaultDataSourceName": SOURCE_NAME,
        "dataSources": [data_source(root, extra)],
    }
    return ("/* written by dicomkit serve --ohif: OHIF's data source is this archive's "
            "DICOMweb service */\nwindow.config = " + json.dumps(config, indent=2) + ";\n")


class _Build(StaticFiles):
    """The build's files; a path that is no file and has no extension is one of OHIF's router
    pages, answered with ``index.html`` (a missing script or image stays a 404)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            return await super().get_response(path, scope)
        except HTTPException as exc:
            last = path.rsplit("/", 1)[-1]
            if exc.status_code != 404 or "." in last or scope["method"] not in ("GET", "HEAD"):
                raise
            return await super().get_response("index.html", scope)


def create_ohif_app(settings: OhifSettings) -> Starlette:
    """The OHIF origin: ``/app-config.js`` written for this archive, the build's files, and
    ``index.html`` for OHIF's own routes."""

    async def config_js(request: Request) -> Response:
        text = app_config(settings.dicomweb_root(request), settings.extra)
        return Response(text, media_type="text/javascript",
                        headers={"Cache-Control": "no-store"})

    routes: list[Any] = [
        Route("/app-config.js", config_js, methods=["GET", "HEAD"]),
        Mount("/", app=_Build(directory=settings.build, html=True)),
    ]
    app = Starlette(routes=routes)
    app.state.ohif = settings
    return app


def origins(port: int, names: list[str]) -> list[str]:
    """The origins the OHIF app is reached from (``http://NAME:PORT`` for each host name), for
    the DICOMweb service's CORS list."""
    out: list[str] = []
    for name in names:
        host = f"[{name}]" if ":" in name else name
        origin = f"http://{host}:{port}"
        if name and origin not in out:
            out.append(origin)
    return out


__all__ = ["OhifBuildError", "OhifSettings", "app_config", "create_ohif_app", "data_source",
           "find_build", "origins"]
