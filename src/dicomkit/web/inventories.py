"""The Non-Patient Instance (NPI) service for Inventories (PS3.18 §12, resource category
``inventories``; Supplement 223, PS3.17 YYYY.4.1) on the archive's kept Inventory SOP
Instances (:class:`dicomkit.archive.inventory_store.InventoryArchive`): the web equivalent of
Inventory Storage and Inventory FIND/GET. Same authentication as every DICOMweb route.

- ``GET /dicom-web/inventories?{attribute}={value}&includefield=…&limit=…&offset=…``: Search
  (§12.4), application/dicom+json: an array with one object per matching Inventory (the
  matching rules of PS3.4 C.2.2.2 as for the Inventory C-FIND), each with the default return
  attributes, the keys, the ``includefield`` attributes (``all``: every kept one) and its
  Retrieve URL (0008,1190).
- ``GET /dicom-web/inventories/{uid}``: Retrieve (§12.3): ``application/dicom`` (default, the
  Part 10 file as kept), ``multipart/related; type="application/dicom"`` (one part) or
  ``application/dicom+json`` (the whole instance as a one-element array).
- ``POST /dicom-web/inventories``: Store (§12.5, optional): ``application/dicom`` or
  ``multipart/related; type="application/dicom"`` bodies of Inventory SOP Instances, each kept
  as by C-STORE (durable before the answer); 200 when all are kept, 409 when none is, 202 when
  some are; the answer lists each part's SOP Instance UID and outcome as JSON.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from dicomkit.archive.inventory_store import InventoryArchive
from dicomkit.core.dataset import Dataset
from dicomkit.encoding.deflate import InflateLimitError
from dicomkit.encoding.json import to_json_dict
from dicomkit.encoding.reader import read
from dicomkit.errors import DicomError
from dicomkit.web.context import ROOT, WebContext
from dicomkit.web.errors import WebError
from dicomkit.web.media import (
    DICOM,
    DICOM_JSON,
    MULTIPART,
    accept_of,
    closing,
    multipart_content_type,
    new_boundary,
    parse_media_type,
    part_head,
    parts_of,
)
from dicomkit.web.qido import attribute_path, check_uid, count_parameter, set_matching

RESOURCE = ROOT + "/inventories"
RETRIEVE_URL = "00081190"
# Returned for every match (the Inventory IE attributes an SCU chooses an Inventory by, PS3.17
# YYYY.4.1: Content Date and Time, Scope of Inventory, completion), with the keys and
# includefield ones.
DEFAULT_RETURN = (0x00080016, 0x00080018, 0x00080023, 0x00080033, 0x00081195, 0x00080403,
                  0x00080401, 0x00080400, 0x00080402, 0x00080427, 0x00080426, 0x00080428)
CONTROL = {"includefield", "limit", "offset", "fuzzymatching", "accept", "charset"}
MAX_LIMIT = 10000
MAX_STORE_BYTES = 256 << 20  # a Store request body past this is refused (413)


def _kept(request: Request) -> InventoryArchive:
    ctx: WebContext = request.app.state.dicomweb
    return InventoryArchive(ctx.archive)


def _base(request: Request) -> str:
    ctx: WebContext = request.app.state.dicomweb
    return ctx.base(request)


async def search(request: Request) -> Response:
    """Search (PS3.18 §12.4)."""
    ranges = accept_of(request.headers.get("accept"), request.query_params.get("accept"))
    if ranges and not any(not r.is_multipart and r.media_type in (
            DICOM_JSON, "application/json", "application/*", "*/*") for r in ranges):
        raise WebError(406, "inventories are searched as application/dicom+json")
    identifier = Dataset()
    include: list[int] = []
    everything = False
    limit, offset = MAX_LIMIT, 0
    for name, value in request.query_params.multi_items():
        if name == "includefield":
            for key in value.split(","):
                if key.strip().lower() == "all":
                    everything = True
                elif key.strip():
                    include.append(attribute_path(key.strip())[0])
        elif name == "limit":
            limit = min(count_parameter(name, value), MAX_LIMIT)
        elif name == "offset":
            offset = count_parameter(name, value)
        elif name in CONTROL:
            continue
        else:
            set_matching(identifier, attribute_path(name), value)
    try:
        found = await asyncio.to_thread(_kept(request).search, identifier)
    except (ValueError, DicomError) as exc:
        raise WebError(400, f"inventories search: {exc}") from exc
    wanted = {f"{tag:08X}" for tag in (*DEFAULT_RETURN, *include,
                                       *(int(e.tag) for e in identifier))}
    base = _base(request)
    out = []
    for attrs in found[offset:offset + limit]:
        item = dict(attrs) if everything else {k: v for k, v in attrs.items() if k in wanted}
        uid = (attrs.get("00080018", {}).get("Value") or [""])[0]
        item[RETRIEVE_URL] = {"vr": "UR", "Value": [f"{base}/inventories/{uid}"]}
        out.append(dict(sorted(item.items())))
    return Response(json.dumps(out, ensure_ascii=False), media_type=DICOM_JSON)


async def retrieve(request: Request) -> Response:
    """Retrieve (PS3.18 §12.3)."""
    uid = check_uid(request.path_params["uid"], "SOP Instance UID")
    path = await asyncio.to_thread(_kept(request).path_of, uid)
    if path is None:
        raise WebError(404, f"the archive keeps no Inventory {uid}")
    ranges = accept_of(request.headers.get("accept"), request.query_params.get("accept"))
    for item in ranges or []:
        if item.is_multipart and item.part_type in (DICOM, "*/*", "application/*"):
            return await _multipart(path)
        if not item.is_multipart and item.media_type in (DICOM, "application/*", "*/*"):
            return FileResponse(path, media_type=DICOM)
        if not item.is_multipart and item.media_type in (DICOM_JSON, "application/json"):
            ds = await asyncio.to_thread(_read, path)
            return Response(json.dumps([to_json_dict(ds)], ensure_ascii=False),
                            media_type=DICOM_JSON)
    if not ranges:
        return FileResponse(path, media_type=DICOM)
    raise WebError(406, "an Inventory is retrieved as application/dicom, multipart/related; "
                   "type=\"application/dicom\" or application/dicom+json")


def _read(path: str) -> Dataset:
    with open(path, "rb") as handle:
        return read(handle.read())


async def _multipart(path: str) -> Response:
    data = await asyncio.to_thread(_bytes, path)
    boundary = new_boundary()
    body = part_head(boundary, DICOM) + data + b"\r\n" + closing(boundary)
    return Response(body, media_type=None,
                    headers={"Content-Type": multipart_content_type(DICOM, boundary)})


def _bytes(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


async def store(request: Request) -> Response:
    """Store (PS3.18 §12.5): each body part kept as Inventory Storage keeps a C-STORE."""
    media_type, params = parse_media_type(request.headers.get("content-type", ""))
    kept = _kept(request)
    outcomes: list[dict[str, Any]] = []
    if media_type == DICOM:
        outcomes.append(await _keep_one(kept, await _body(request)))
    elif media_type == MULTIPART:
        part_type = params.get("type", "").strip('"').lower()
        if part_type not in ("", DICOM):
            raise WebError(415, f"multipart/related; type={part_type!r}: inventories are "
                           "stored as application/dicom parts")
        current: bytearray | None = None
        total = 0
        async for event, value in parts_of(request.stream(), params.get("boundary", "")):
            if event == "part":
                current = bytearray()
            elif event == "data" and current is not None:
                assert isinstance(value, bytes)
                total += len(value)
                if total > MAX_STORE_BYTES:
                    raise WebError(413, f"the request body is larger than {MAX_STORE_BYTES} "
                                   "bytes")
                current += value
            elif event == "end" and current is not None:
                outcomes.append(await _keep_one(kept, bytes(current)))
                current = None
    else:
        raise WebError(415, "inventories are stored as application/dicom or multipart/related; "
                       "type=\"application/dicom\"")
    if not outcomes:
        raise WebError(400, "the request holds no Inventory")
    good = sum(1 for o in outcomes if o["status"] == "stored")
    status = 200 if good == len(outcomes) else 409 if good == 0 else 202
    return JSONResponse(outcomes, status_code=status)


async def _body(request: Request) -> bytes:
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_STORE_BYTES:
            raise WebError(413, f"the request body is larger than {MAX_STORE_BYTES} bytes")
    return bytes(data)


async def _keep_one(kept: InventoryArchive, data: bytes) -> dict[str, Any]:
    try:
        done = await asyncio.to_thread(kept.keep, data)
    except (DicomError, InflateLimitError, ValueError) as exc:
        return {"status": "refused", "reason": str(exc)[:200]}
    return {"status": "stored", "SOPInstanceUID": done.sop_instance, "result": done.result}


def routes() -> list[Route]:
    return [Route(RESOURCE, search, methods=["GET"]),
            Route(RESOURCE, store, methods=["POST"]),
            Route(RESOURCE + "/{uid}", retrieve, methods=["GET"])]
