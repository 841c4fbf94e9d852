"""The MPPS management API on the HTTP port (same authentication and CORS as DICOMweb):

- ``GET /api/mpps``: the archive's Modality Performed Procedure Step instances (PS3.4 F.7),
  most recent first, as JSON objects (:meth:`dicomkit.archive.mpps.MppsEntry.summary`);
  filters ``status`` (IN PROGRESS, COMPLETED, DISCONTINUED), ``date`` (start date YYYYMMDD or a
  range ``A-B``), ``station`` (Performed Station AE Title), ``limit``.
- ``GET /api/mpps/{uid}``: one instance as DICOM JSON (PS3.18 F.2).
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dicomkit.archive.mpps import MppsStore, check_date_range
from dicomkit.encoding.json import to_json_dict
from dicomkit.web.context import WebContext
from dicomkit.web.errors import WebError
from dicomkit.web.media import DICOM_JSON

STATUSES = ("IN PROGRESS", "COMPLETED", "DISCONTINUED")
MAX_LIMIT = 10000


def _store(request: Request) -> MppsStore:
    ctx: WebContext = request.app.state.dicomweb
    return MppsStore(ctx.archive.index)


async def list_mpps(request: Request) -> Response:
    params = request.query_params
    unknown = sorted(set(params) - {"status", "date", "station", "limit"})
    if unknown:
        raise WebError(400, f"unknown query parameter {', '.join(unknown)} (known: status, "
                            "date, station, limit)")
    status = params.get("status", "").strip().upper() or None
    if status is not None and status not in STATUSES:
        raise WebError(400, f"status {status!r}: expected one of {', '.join(STATUSES)}")
    date = params.get("date") or None
    if date is not None:
        try:
            date = check_date_range(date)
        except ValueError as exc:
            raise WebError(400, str(exc)) from exc
    limit = MAX_LIMIT
    if "limit" in params:
        text = params["limit"]
        if not text.isdigit() or not 0 < int(text) <= MAX_LIMIT:
            raise WebError(400, f"limit {text!r}: expected 1 to {MAX_LIMIT}")
        limit = int(text)
    entries = await asyncio.to_thread(_store(request).entries, status=status, date=date,
                                      station=params.get("station") or None, limit=limit)
    return JSONResponse([entry.summary() for entry in entries])


async def get_mpps(request: Request) -> Response:
    uid = request.path_params["uid"]
    if not uid or len(uid) > 64 or not all(c.isdigit() or c == "." for c in uid):
        raise WebError(400, f"{uid[:80]!r} is not a SOP Instance UID")
    entry = await asyncio.to_thread(_store(request).get, uid)
    if entry is None:
        raise WebError(404, f"no MPPS {uid}")
    return JSONResponse(to_json_dict(entry.dataset()), media_type=DICOM_JSON)


def routes() -> list[Route]:
    return [Route("/api/mpps", list_mpps, methods=["GET"]),
            Route("/api/mpps/{uid}", get_mpps, methods=["GET"])]
