"""The worklist REST API under ``/api/worklist`` (on the DICOMweb HTTP port, with its
authentication and CORS): the Scheduled Procedure Steps a Modality Worklist SCP offers
(PS3.4 K.6.1), kept by :class:`dicomkit.archive.worklist.WorklistStore`.

| method and path | does | answers |
|---|---|---|
| ``POST /api/worklist`` | add an item (a DICOM JSON object, PS3.18 F.2; one row per step) | 201 and the created steps; 400 invalid, 409 a step scheduled already |
| ``GET /api/worklist?…`` | search, with QIDO-RS parameters (PS3.18 §8.3.4) | a DICOM JSON array |
| ``GET /api/worklist/{key}`` | one step's item | a DICOM JSON object; 404 |
| ``PUT /api/worklist/{key}`` | replace it (one step; status and MPPS kept) | 200 and the step; 400, 404, 409 |
| ``DELETE /api/worklist/{key}`` | remove it | 204; 404 |
| ``GET /api/worklist/{key}/status`` | its status | ``{"key", "status", "mpps_uid", …}`` |
| ``POST /api/worklist/{key}/status`` | ``{"status": "ARRIVED"}`` | 200 and the step; 400 unknown status, 404 |

Search parameters are those of QIDO-RS, parsed by :mod:`dicomkit.web.qido`: ``{keyword or
tag}={value}`` (``Sequence.Keyword`` inside a sequence; the attributes of the Scheduled
Procedure Step that the index keeps as columns — Modality, Scheduled Station AE Title and Name,
Start Date and Time, Step ID, Performing Physician's Name — may also be given without their
sequence), ``limit``, ``offset``, ``includefield`` (only those attributes, as a C-FIND would
return them; without it, whole items), plus ``status`` (one of the store's statuses, or
``all``, the default). Matching is the Modality Worklist C-FIND's (one engine). Each result
carries Retrieve URL (0008,1190) naming the step's resource.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Generator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dicomkit.archive.matching import QueryError
from dicomkit.archive.schema import worklist_items
from dicomkit.archive.worklist import (
    StepScheduledAlready,
    WorklistEntry,
    WorklistError,
    WorklistStore,
)
from dicomkit.archive.worklist_matching import (
    SPS_SEQUENCE,
    START_DATE,
    START_TIME,
    STEP_COLUMNS,
    WorklistQuery,
)
from dicomkit.core.dataset import Dataset
from dicomkit.encoding.json import from_json, to_json_dict
from dicomkit.errors import DicomError
from dicomkit.services.worklist import response_identifier
from dicomkit.web.context import WebContext
from dicomkit.web.errors import WebError, warning_header
from dicomkit.web.media import DICOM_JSON
from dicomkit.web.qido import attribute_path, count_parameter, set_matching

API_ROOT = "/api/worklist"
MAX_BODY = 4 << 20  # bytes: a worklist item is a few kilobytes
RETRIEVE_URL = "00081190"
STEP_KEYS = frozenset(STEP_COLUMNS) | {START_DATE, START_TIME}
"""Scheduled Procedure Step attributes a search may name without their sequence."""
RESERVED = frozenset({"limit", "offset", "includefield", "status", "fuzzymatching",
                      "accept", "charset"})


def _context(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.dicomweb
    return ctx


def _store(request: Request, statuses: tuple[str, ...] = WorklistStore.STATUSES
           ) -> WorklistStore:
    return WorklistStore(_context(request).archive.index, offered=statuses)


def api_base(request: Request) -> str:
    """The URL of ``/api/worklist`` as the client sees it (beside the DICOMweb root)."""
    return _context(request).base(request).rsplit("/", 1)[0] + API_ROOT


def summary(entry: WorklistEntry, base: str) -> dict[str, Any]:
    """A step as plain JSON: its key and resource, status, MPPS and keys."""
    return {"key": entry.key, "url": f"{base}/{entry.key}", "status": entry.status,
            "mpps_uid": entry.mpps_uid, "study_uid": entry.study_uid,
            "accession_number": entry.accession_number,
            "requested_procedure_id": entry.requested_procedure_id, "sps_id": entry.sps_id,
            "patient_id": entry.patient_id, "issuer": entry.issuer,
            "patient_name": entry.patient_name, "modality": entry.modality,
            "station_ae": entry.station_ae, "start_date": entry.start_date,
            "start_time": entry.start_time,
            "created": entry.created.isoformat() if entry.created else None,
            "updated": entry.updated.isoformat() if entry.updated else None}


def _dicom_json(body: Any, status: int = 200, headers: dict[str, str] | None = None
                ) -> Response:
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return Response(text.encode("utf-8"), status_code=status, headers=headers,
                    media_type=DICOM_JSON)


# -- request bodies -------------------------------------------------------------------------
async def _body(request: Request) -> bytes:
    """The request body, refused past MAX_BODY bytes whatever Content-Length says."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise WebError(413, f"the body of {declared} bytes is larger than a worklist item "
                       f"may be ({MAX_BODY} bytes)")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise WebError(413, f"the body is larger than a worklist item may be "
                           f"({MAX_BODY} bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


def _json_body(data: bytes) -> Any:
    if not data.strip():
        raise WebError(400, "the request has no body")
    try:
        return json.loads(data)
    except UnicodeDecodeError as exc:
        raise WebError(400, f"the body is not UTF-8 text: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise WebError(400, f"the body is not JSON: {exc.msg} at line {exc.lineno} column "
                       f"{exc.colno}") from exc


def _check_media_type(request: Request) -> None:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media and media not in (DICOM_JSON, "application/json"):
        raise WebError(415, f"a worklist item is sent as {DICOM_JSON} (or application/json), "
                       f"not {media}")


async def item_of(request: Request) -> Dataset:
    """The body as one worklist item: a DICOM JSON object (PS3.18 F.2), or an array holding
    exactly one."""
    _check_media_type(request)
    model = _json_body(await _body(request))
    if isinstance(model, list):
        if len(model) != 1:
            raise WebError(400, f"the body is a DICOM JSON array of {len(model)} objects; "
                           "send one worklist item per request")
        model = model[0]
    if not isinstance(model, dict):
        raise WebError(400, "the body is not a DICOM JSON object (PS3.18 F.2): "
                       f"found a JSON {type(model).__name__}")
    try:
        return from_json(model)
    except (ValueError, TypeError, KeyError, DicomError) as exc:
        raise WebError(400, f"the body is not valid DICOM JSON (PS3.18 F.2): {exc}") from exc


def _refusal(exc: WorklistError) -> WebError:
    """A store's refusal: 409 when a step is scheduled already, else 400."""
    return WebError(409 if isinstance(exc, StepScheduledAlready) else 400, str(exc))


def _key(request: Request) -> int:
    return int(request.path_params["key"])


async def _entry(request: Request) -> WorklistEntry:
    key = _key(request)
    entry = await asyncio.to_thread(_store(request).get, key)
    if entry is None:
        raise WebError(404, f"no worklist item {key}")
    return entry


# -- search -----------------------------------------------------------------------------------
@dataclass
class WorklistSearch:
    """Query parameters made into a Modality Worklist identifier."""

    identifier: Dataset
    statuses: tuple[str, ...]
    include: bool  # only the identifier's keys are returned (includefield was given)
    limit: int | None
    offset: int


def build_search(params: list[tuple[str, str]]) -> WorklistSearch:
    """QIDO-RS query parameters (PS3.18 §8.3.4) → a Modality Worklist identifier."""
    identifier = Dataset()
    include: list[list[int]] = []
    statuses: tuple[str, ...] = WorklistStore.STATUSES
    limit: int | None = None
    offset = 0
    for name, value in params:
        lowered = name.lower()
        if lowered == "includefield":
            include += [_in_step(attribute_path(part.strip())) for part in value.split(",")
                        if part.strip() and part.strip().lower() != "all"]
        elif lowered == "limit":
            limit = count_parameter(name, value)
        elif lowered == "offset":
            offset = count_parameter(name, value)
        elif lowered == "status":
            wanted = value.strip().upper()
            if wanted in ("", "ALL"):
                statuses = WorklistStore.STATUSES
            elif wanted in WorklistStore.STATUSES:
                statuses = (wanted,)
            else:
                raise WebError(400, f"status={value!r}: expected all or one of "
                               f"{', '.join(WorklistStore.STATUSES)}")
        elif lowered in RESERVED:
            continue
        else:
            set_matching(identifier, _in_step(attribute_path(name)), value)
    for tags in include:
        if not _present(identifier, tags):
            set_matching(identifier, tags, "")  # a universal key: returned, matches all
    return WorklistSearch(identifier, statuses, bool(include), limit, offset)


def _in_step(tags: list[int]) -> list[int]:
    """A Scheduled Procedure Step attribute named alone goes inside its sequence."""
    return [SPS_SEQUENCE, tags[0]] if len(tags) == 1 and tags[0] in STEP_KEYS else tags


def _present(identifier: Dataset, tags: list[int]) -> bool:
    target = identifier
    for tag in tags[:-1]:
        if tag not in target or not target[tag].value:
            return False
        target = target[tag].value[0]
    return tags[-1] in target


def _keyed_matches(store: WorklistStore, query: WorklistQuery
                   ) -> Generator[tuple[int, dict[str, Any]], None, None]:
    """(key, DICOM JSON attributes) of the matching steps, in start date/time order: the
    store's own query (its SQL conditions, then its predicates on the stored item), with the
    row's key, which the resource URLs need."""
    statement = select(worklist_items.c.pk, worklist_items.c.attrs).where(*query.where) \
        .order_by(worklist_items.c.start_date, worklist_items.c.start_time,
                  worklist_items.c.pk)
    with store.index.engine.connect() as connection:
        result = connection.execution_options(yield_per=200).execute(statement)
        for row in result:
            attrs = json.loads(row.attrs or "{}")
            if all(predicate(attrs) for predicate in query.post):
                yield int(row.pk), attrs


def _page(store: WorklistStore, query: WorklistQuery, offset: int,
          count: int) -> list[tuple[int, dict[str, Any]]]:
    rows = _keyed_matches(store, query)
    try:
        return list(islice(rows, offset, offset + count))
    finally:
        rows.close()


def _result(search: WorklistSearch, attrs: dict[str, Any], url: str) -> dict[str, Any]:
    """One match: the whole item, or with ``includefield`` what a C-FIND with those keys
    returns (PS3.4 K.6.1.2.2); with its Retrieve URL."""
    if search.include:
        out = to_json_dict(response_identifier(search.identifier, attrs))
    else:
        out = dict(attrs)
    out[RETRIEVE_URL] = {"vr": "UR", "Value": [url]}
    return dict(sorted(out.items()))


async def search(request: Request) -> Response:
    ctx = _context(request)
    wanted = build_search(list(request.query_params.multi_items()))
    maximum = ctx.settings.max_results
    warnings = []
    count = maximum if wanted.limit is None else min(wanted.limit, maximum)
    if wanted.limit is not None and wanted.limit > maximum:
        warnings.append(f"limit {wanted.limit} is above this server's maximum of {maximum}")
    store = _store(request, wanted.statuses)
    try:
        query = store.compile(wanted.identifier)
    except QueryError as exc:
        raise WebError(400, f"the query cannot be answered: {exc}") from exc
    rows = await asyncio.to_thread(_page, store, query, wanted.offset, count + 1)
    if len(rows) > count:
        rows = rows[:count]
        warnings.append("there are more matches than returned: ask again with offset="
                        f"{wanted.offset + count}")
    base = api_base(request)
    body = [_result(wanted, attrs, f"{base}/{key}") for key, attrs in rows]
    headers = {"Warning": ", ".join(warning_header(w) for w in warnings)} if warnings else {}
    return _dicom_json(body, headers=headers)


# -- one item ----------------------------------------------------------------------------------
async def create(request: Request) -> Response:
    item = await item_of(request)
    try:
        entries = await asyncio.to_thread(_store(request).add, item)
    except WorklistError as exc:
        raise _refusal(exc) from exc
    base = api_base(request)
    created = [summary(entry, base) for entry in entries]
    headers = {"Location": created[0]["url"]} if len(created) == 1 else {}
    return JSONResponse({"created": created}, status_code=201, headers=headers)


async def read(request: Request) -> Response:
    entry = await _entry(request)
    out = dict(entry.attrs)
    out[RETRIEVE_URL] = {"vr": "UR", "Value": [f"{api_base(request)}/{entry.key}"]}
    return _dicom_json(dict(sorted(out.items())))


async def replace(request: Request) -> Response:
    entry = await _entry(request)
    item = await item_of(request)
    try:
        updated = await asyncio.to_thread(_store(request).replace, entry.key, item)
    except WorklistError as exc:
        if await asyncio.to_thread(_store(request).get, entry.key) is None:
            raise WebError(404, f"no worklist item {entry.key}") from exc
        raise _refusal(exc) from exc
    return JSONResponse(summary(updated, api_base(request)))


async def remove(request: Request) -> Response:
    key = _key(request)
    if not await asyncio.to_thread(_store(request).delete, key):
        raise WebError(404, f"no worklist item {key}")
    return Response(status_code=204)


async def status(request: Request) -> Response:
    entry = await _entry(request)
    return JSONResponse(summary(entry, api_base(request)))


async def set_status(request: Request) -> Response:
    entry = await _entry(request)
    _check_media_type(request)
    body = _json_body(await _body(request))
    if not isinstance(body, dict) or not isinstance(body.get("status"), str):
        raise WebError(400, 'the body is {"status": "<status>"} with one of '
                       f"{', '.join(WorklistStore.STATUSES)}")
    try:
        changed = await asyncio.to_thread(_store(request).set_status, entry.key,
                                          body["status"])
    except WorklistError as exc:
        if await asyncio.to_thread(_store(request).get, entry.key) is None:
            raise WebError(404, f"no worklist item {entry.key}") from exc
        raise WebError(400, str(exc)) from exc
    return JSONResponse(summary(changed, api_base(request)))


def routes() -> list[Route]:
    one = API_ROOT + "/{key:int}"
    return [
        Route(API_ROOT, search, methods=["GET"]),
        Route(API_ROOT, create, methods=["POST"]),
        Route(API_ROOT + "/", search, methods=["GET"]),
        Route(API_ROOT + "/", create, methods=["POST"]),
        Route(one, read, methods=["GET"]),
        Route(one, replace, methods=["PUT"]),
        Route(one, remove, methods=["DELETE"]),
        Route(one + "/status", status, methods=["GET"]),
        Route(one + "/status", set_status, methods=["POST"]),
    ]


__all__ = ["API_ROOT", "build_search", "routes"]
