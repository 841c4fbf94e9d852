"""``dicomkit serve --ohif DIR [--ohif-port N]``: the OHIF Viewer build in DIR on a port of its
own, pointed at this archive's DICOMweb service, whose CORS origins then include OHIF's
(web/ohif.py; docs/ohif.md)."""

from __future__ import annotations

import argparse
import logging
import socket
from typing import Any

OHIF_SETTINGS: dict[str, Any] = {"ohif": None, "ohif_port": 3000}
"""The ``--config`` keys of the OHIF viewer, with their defaults."""

OHIF_EPILOG = """  dicomkit serve --ohif ./ohif/package/dist --ohif-port 3000
                        the OHIF Viewer (npm pack @ohif/app; tar xzf) on http://HOST:3000/,
                        reading this archive over DICOMweb (docs/ohif.md)"""


def add_ohif_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ohif", metavar="DIR",
                   help="serve the OHIF Viewer build in DIR (an extracted @ohif/app package "
                        "or its dist/) on --ohif-port, pointed at this archive")
    p.add_argument("--ohif-port", type=int, metavar="PORT",
                   help="the OHIF Viewer's HTTP port (3000)")


def merge_ohif_options(settings: dict[str, Any], args: argparse.Namespace) -> None:
    """Options over the config file; the port checked (the folder is checked by
    :func:`check_ohif` when serve starts)."""
    for key in ("ohif", "ohif_port"):
        value = getattr(args, key, None)
        if value is not None:
            settings[key] = value
    port = settings["ohif_port"]
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise SystemExit(f"dicomkit: ohif_port {port!r}: expected a TCP port (0-65535)")


def check_ohif(settings: dict[str, Any]) -> None:
    """Before anything listens: the build folder found (``settings["ohif_build"]``), and a
    DICOMweb service for it to read; or exit with the reason."""
    if settings["ohif"] is None:
        return
    from dicomkit.web.ohif import OhifBuildError, find_build

    if not settings["http"]:
        raise SystemExit("dicomkit: --ohif needs the DICOMweb service (not --no-http)")
    try:
        settings["ohif_build"] = find_build(str(settings["ohif"]))
    except OhifBuildError as exc:
        raise SystemExit(f"dicomkit: {exc}") from exc


def host_names(bind: str) -> list[str]:
    """The names a browser on this machine or the network may reach the viewer by."""
    names = ["127.0.0.1", "localhost", "::1"]
    if bind not in ("0.0.0.0", "::", ""):
        names.append(bind)
    for name in (socket.gethostname(), socket.getfqdn()):
        if name and name not in names:
            names.append(name)
    return names


async def start_ohif(settings: dict[str, Any]) -> Any:
    """Listen for the OHIF app; its origins are added to ``settings["cors_origins"]`` so that
    the DICOMweb service, created after this, answers it. Returns the running server and its
    :class:`~dicomkit.web.ohif.OhifSettings` (the DICOMweb port is filled in later)."""
    from dicomkit.web.ohif import OhifSettings, create_ohif_app, origins
    from dicomkit.web.server import HttpServer

    host = settings["http_bind"] or settings["bind"]
    ohif = OhifSettings(settings["ohif_build"], base_url=settings["http_base_url"])
    server = HttpServer(create_ohif_app(ohif), host, int(settings["ohif_port"]))
    try:
        await server.start()
    except OSError as exc:
        raise SystemExit(f"dicomkit serve: the OHIF viewer cannot listen on {host}:"
                         f"{settings['ohif_port']}: {exc}") from exc
    settings["cors_origins"] = list(settings["cors_origins"]) + [
        o for o in origins(server.port, host_names(host)) if o not in settings["cors_origins"]]
    return server, ohif


def point_at(ohif: Any, http: Any, https: Any) -> None:
    """The DICOMweb listener OHIF is to use: plain HTTP when it runs, else HTTPS."""
    log = logging.getLogger("dicomkit")
    chosen, scheme = (http, "http") if http is not None else (https, "https")
    if chosen is None:
        log.warning("dicomkit serve: the OHIF viewer has no DICOMweb service to read from")
        return
    ohif.dicomweb_port, ohif.dicomweb_scheme = chosen.port, scheme
