"""WADO-URI (PS3.18 §9): ``GET /wado?requestType=WADO&studyUID=…&seriesUID=…&objectUID=…``.

``contentType=application/dicom`` returns the instance as a PS3.10 file, as stored unless a
``transferSyntax`` is asked for (transcoded when possible, else 406). The image media types
(the default, image/jpeg, §9.1.2.2.2) return a rendered frame with ``frameNumber``,
``windowCenter``/``windowWidth``, ``rows``/``columns`` and ``imageQuality`` (§9.1.2.3), when
dicomkit.pixels can render; 501 otherwise. ``presentationUID`` with ``presentationSeriesUID``
(§8.2.9: a Grayscale Softcopy Presentation State of the same study, found in the index) renders
the image as the presentation state says (PS3.4 N.2), then ``rows``/``columns``; a window or
``region`` with it is a 400.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from dicomkit.archive.records import InstanceRow
from dicomkit.core.dataset import Dataset
from dicomkit.web import pixels
from dicomkit.web.context import FileSpan, SpanResponse, WebContext, file_size, one_span
from dicomkit.web.errors import WebError
from dicomkit.web.media import DICOM, EXPLICIT_VR_LITTLE_ENDIAN, parse_accept
from dicomkit.web.wado import plan, presentation_state, render_file, transcoded_file

NOT_SUPPORTED = ("anonymize", "annotation", "region")


def _param(request: Request, name: str, required: bool = False) -> str | None:
    value = request.query_params.get(name)
    if required and not value:
        raise WebError(400, f"WADO-URI: the {name} parameter is required (PS3.18 §9.1.2.1)")
    return value


def _number(request: Request, name: str, low: float, high: float | None = None
            ) -> float | None:
    text = _param(request, name)
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise WebError(400, f"WADO-URI: {name}={text!r} is not a number") from None
    if value < low or (high is not None and value > high):
        raise WebError(400, f"WADO-URI: {name}={text!r} is out of range")
    return value


async def wado_uri(request: Request) -> Response:
    ctx: WebContext = request.app.state.dicomweb
    request_type = _param(request, "requestType", required=True)
    if request_type != "WADO":
        raise WebError(400, f"WADO-URI: requestType={request_type!r}; only WADO is defined")
    study = _param(request, "studyUID", required=True) or ""
    series = _param(request, "seriesUID", required=True) or ""
    instance = _param(request, "objectUID", required=True) or ""
    presentation_uid = _param(request, "presentationUID")
    presentation_series = _param(request, "presentationSeriesUID")
    if bool(presentation_uid) != bool(presentation_series):
        raise WebError(400, "WADO-URI: presentationUID and presentationSeriesUID go together "
                       "(PS3.18 §8.2.9)")
    if presentation_uid and _param(request, "region"):
        raise WebError(400, "WADO-URI: region may not be given with presentationUID "
                       "(PS3.18 §8.2.9)")
    if presentation_uid and (_param(request, "windowCenter") or _param(request, "windowWidth")):
        raise WebError(400, "WADO-URI: windowCenter/windowWidth may not be given with "
                       "presentationUID (the presentation state sets the VOI)")
    for name in NOT_SUPPORTED:
        if request.query_params.get(name) and request.query_params.get(name) != "no":
            raise WebError(501, f"WADO-URI: the {name} parameter is not supported yet")
    given = _param(request, "contentType")
    wanted = [item.media_type for item in parse_accept(given or "image/jpeg")]
    rows = await ctx.locate(study, series, instance)
    row = rows[0]
    path = ctx.path_of(row)
    for media_type in wanted:
        if media_type in (DICOM, "application/*"):
            return await _dicom(request, row, path)
        if media_type in ("image/jpeg", "image/png", "image/*", "*/*"):
            if media_type != "image/png" and (not given or "*" in media_type) \
                    and not pixels.jpeg_available():
                media_type = "image/png"  # the default, image/jpeg, when there is no encoder
            presentation = None
            if presentation_uid:
                presentation = await presentation_state(ctx, study, presentation_series or "",
                                                        presentation_uid)
            return await _image(request, path, media_type, presentation)
    raise WebError(406, f"WADO-URI: contentType {', '.join(wanted)} is not supported; use "
                   "application/dicom, image/jpeg or image/png")


async def _dicom(request: Request, row: InstanceRow, path: str) -> Response:
    asked = _param(request, "transferSyntax")
    # Without transferSyntax Explicit VR Little Endian is preferred (§9.1.2.3.3) and the file
    # goes as stored when it cannot be converted.
    chosen = plan(row.transfer_syntax, [asked] if asked else [EXPLICIT_VR_LITTLE_ENDIAN, "*"])
    if chosen is None:
        raise WebError(406, f"WADO-URI: the instance is stored in {row.transfer_syntax}; "
                       f"converting it to {asked} is not supported yet")
    how, uid = chosen
    headers = {"Content-Disposition": f'attachment; filename="{row.sop_uid}.dcm"'}
    if how == "stored":
        size = await asyncio.to_thread(file_size, path)
        headers["Content-Length"] = str(size)
        return SpanResponse(one_span(FileSpan(path, 0, size)), headers=headers,
                            media_type=f"{DICOM}; transfer-syntax={uid}")
    data = await asyncio.to_thread(transcoded_file, path, uid)
    return Response(data, headers=headers, media_type=f"{DICOM}; transfer-syntax={uid}")


async def _image(request: Request, path: str, media_type: str,
                 presentation: Dataset | None = None) -> Response:
    if media_type not in ("image/jpeg", "image/png"):
        media_type = "image/jpeg"
    if not pixels.rendering_available():
        raise WebError(501, "WADO-URI: rendered images are not supported yet "
                       "(dicomkit.pixels.render is not available); ask for "
                       "contentType=application/dicom")
    frame = _number(request, "frameNumber", 1)
    center = _number(request, "windowCenter", float("-inf"))
    width = _number(request, "windowWidth", 1e-9)
    if (center is None) != (width is None):
        raise WebError(400, "WADO-URI: windowCenter and windowWidth go together")
    rows = _number(request, "rows", 1)
    columns = _number(request, "columns", 1)
    quality = _number(request, "imageQuality", 1, 100)
    viewport = None
    if rows or columns:
        viewport = (int(columns or 1 << 16), int(rows or 1 << 16))
    options = {"window": (center, width, "linear") if center is not None else None,
               "viewport": viewport, "quality": int(quality) if quality else None,
               "presentation": presentation}
    data = await asyncio.to_thread(render_file, path, int(frame or 1) - 1, media_type, options)
    return Response(data, media_type=media_type)
