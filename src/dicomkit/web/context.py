"""What every DICOMweb route shares: the archive, the settings, and small helpers."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from dicomkit.archive.matching import compile_query
from dicomkit.archive.records import InstanceRow
from dicomkit.archive.store import Archive
from dicomkit.core.dataset import Dataset
from dicomkit.core.element import DataElement
from dicomkit.web.auth import JWTSettings
from dicomkit.web.errors import WebError
from dicomkit.web.media import MediaRange, accept_of
from dicomkit.web.qido import check_uid

CHUNK = 1 << 20  # bytes read from a file per step when streaming
ROOT = "/dicom-web"
STORED_INSTANCES = "dicomkit.stored"  # ASGI scope key: SOP Instance UIDs STOW-RS stored
DELETED = "dicomkit.deleted"  # ASGI scope key: (level, audit summary) of what DELETE removed


@dataclass
class WebSettings:
    """``dicomkit serve`` options of the web service (TOML keys of the same names)."""

    base_url: str | None = None  # the public root, e.g. https://pacs.example.org/dicom-web
    max_results: int = 10000  # QIDO-RS matches per response at most
    cors_origins: list[str] = field(default_factory=list)
    bearer_tokens: list[str] = field(default_factory=list)
    basic_users: dict[str, str] = field(default_factory=dict)
    jwt: JWTSettings | None = None  # OAuth 2.0 / OIDC access tokens (web/auth.py)
    ae_title: str = "DICOMKIT"  # the archive's AE title: the calling AE of sends from the UI
    peers: dict[str, tuple[str, int]] = field(default_factory=dict)  # AE title -> (host, port)


@dataclass
class WebContext:
    archive: Archive
    settings: WebSettings

    def base(self, request: Any) -> str:
        """The service root URL (PS3.18 §8.2), for Retrieve URLs and bulk data references."""
        if self.settings.base_url:
            return self.settings.base_url.rstrip("/")
        url = request.url
        netloc = url.netloc
        server = request.scope.get("server")
        default = 443 if url.scheme == "https" else 80
        if url.port is None and server and server[1] != default and url.hostname:
            # A Host header without the port (dicomweb-client sends one) would name port 80;
            # the port this request came in on is the one that answers. Behind a reverse
            # proxy, set base_url instead.
            netloc = f"{netloc}:{server[1]}"
        return f"{url.scheme}://{netloc}{ROOT}"

    async def locate(self, study: str, series: str | None = None,
                     instance: str | None = None) -> list[InstanceRow]:
        """The instances of a study, series or instance (in ingest order); 404 when none."""
        identifier = Dataset()
        identifier.QueryRetrieveLevel = "IMAGE"
        named = [(0x0020000D, study, "Study Instance UID")]
        if series is not None:
            named.append((0x0020000E, series, "Series Instance UID"))
        if instance is not None:
            named.append((0x00080018, instance, "SOP Instance UID"))
        for tag, uid, what in named:
            identifier[tag] = DataElement(tag, "UI", check_uid(uid, what))
        query = compile_query(identifier, "study")
        rows = await asyncio.to_thread(self.archive.index.instances_of, query.where)
        if not rows:
            what = ("instance " + str(instance) if instance else
                    "series " + str(series) if series else "study " + study)
            raise WebError(404, f"the archive holds no {what}"
                           + (f" in study {study}" if series or instance else ""))
        return rows

    def path_of(self, row: InstanceRow) -> str:
        return self.archive.absolute(row.path)


def instance_url(base: str, row: InstanceRow) -> str:
    return (f"{base}/studies/{row.study_uid}/series/{row.series_uid}"
            f"/instances/{row.sop_uid}")


async def file_range(path: str, start: int, length: int) -> AsyncIterator[bytes]:
    """``length`` bytes of a file from ``start``, read in a worker thread chunk by chunk so
    the event loop (shared with the DIMSE server) never waits on the disk."""
    handle = await asyncio.to_thread(open, path, "rb")
    try:
        await asyncio.to_thread(handle.seek, start)
        remaining = length
        while remaining > 0:
            chunk = await asyncio.to_thread(handle.read, min(CHUNK, remaining))
            if not chunk:
                raise OSError(f"{path} ended {remaining} byte(s) early")
            remaining -= len(chunk)
            yield chunk
    finally:
        handle.close()


def file_size(path: str) -> int:
    return os.path.getsize(path)


# -- what a route reads from its request ------------------------------------------------------
def context(request: Any) -> WebContext:
    """The web service's context, kept on the Starlette application's state."""
    ctx: WebContext = request.app.state.dicomweb
    return ctx


def accept(request: Any) -> list[MediaRange]:
    """The request's Accept ranges: the ``accept`` query parameter (PS3.18 §8.3.3.1) or the
    header."""
    return accept_of(request.headers.get("accept"), request.query_params.get("accept"))


def request_uids(request: Any) -> tuple[str, str | None, str | None]:
    """(study, series, instance) UIDs of the route's path; series and instance may be None."""
    params = request.path_params
    return params["study"], params.get("series"), params.get("instance")
