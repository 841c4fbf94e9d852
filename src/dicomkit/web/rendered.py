"""WADO-RS Rendered and Thumbnail resources (PS3.18 §10.4.1.1.3, §10.4.1.1.4).

An instance or a frame is one image in a Rendered Media Type (§8.7.4): ``image/jpeg`` (the
default) or ``image/png``. A study or a series is every rendered image it holds (a Rendered
Resource "contains one or more rendered representations of its parent DICOM Resource",
§10.4.1.1.3): a ``multipart/related; type="image/jpeg"`` payload (§8.6.1.2, §8.7.3.5.1) with a
part for each frame of each image, in Series Number then Instance Number order, each part with
the Content-Location of the rendered instance (or rendered frame) it is. A single part payload
answers only when there is exactly one image (§8.6.1.1).

An instance's rendered resource for a document, a video or a structured report is that instance
in its own Rendered Media Type (text/html for an SR; :mod:`dicomkit.web.documents`).

Instances with no image to render (SR, presentation states, encapsulated documents; video,
whose Rendered Media Types are video ones) are left out: then the status is 206, "the response
payload contains representations for some, but not all, of the Target Resource(s)"
(§10.4.3.1), with a Warning saying what was left out; when nothing is left, 406. The images are
rendered one at a time while the response streams; the first before it starts, so that what
cannot be done at all is an error status rather than a broken stream.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from dicomkit.archive.records import InstanceRow
from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import registered
from dicomkit.web import documents, pixels
from dicomkit.web.context import WebContext, accept, context, instance_url, request_uids
from dicomkit.web.errors import WebError, warning_header
from dicomkit.web.media import (
    PIXEL_MEDIA_TYPES,
    MediaRange,
    closing,
    multipart_content_type,
    new_boundary,
    part_head,
)
from dicomkit.web.wado import (
    METADATA_BATCH,
    frame_numbers,
    open_image,
    presentation_state,
    render_file,
    render_frame,
)

log = logging.getLogger("dicomkit.web")

THUMBNAIL_SIZE = (128, 128)
#: The Rendered Media Types dicomkit writes (PS3.18 Table 8.7.4-1, Single Frame Image).
RENDERED_TYPES = ("image/jpeg", "image/png")
GRAYSCALE = ("MONOCHROME1", "MONOCHROME2")


def default_image_type() -> str:
    """image/jpeg, the default of Table 8.7.4-1, when there is a JPEG encoder."""
    return "image/jpeg" if pixels.jpeg_available() else "image/png"


def negotiate_image(ranges: list[MediaRange]) -> str:
    """The single part media type of an instance, a frame or a thumbnail."""
    for item in ranges:
        if item.is_multipart:
            continue
        if item.media_type in RENDERED_TYPES:
            return item.media_type
        if item.media_type in ("image/*", "*/*"):
            return default_image_type()
    raise WebError(406, "rendered images are sent as image/jpeg or image/png")


def negotiate_collection(ranges: list[MediaRange]) -> list[tuple[bool, str]]:
    """The (multipart, media type) choices the Accept header allows for a study or a series,
    by preference. A multipart type may be a Rendered Media Type (§8.7.3.5.1); ``*/*`` takes
    the multipart payload, which fits any number of images (§8.6.1.1, note)."""
    choices: list[tuple[bool, str]] = []
    for item in ranges:
        if item.is_multipart or item.media_type == "multipart/*":
            part = item.part_type
            if part in RENDERED_TYPES:
                choices.append((True, part))
            elif part in ("image/*", "*/*"):
                choices.append((True, default_image_type()))
        elif item.media_type == "*/*":
            choices.append((True, default_image_type()))
        elif item.media_type in RENDERED_TYPES:
            choices.append((False, item.media_type))
        elif item.media_type == "image/*":
            choices.append((False, default_image_type()))
    if not choices:
        raise WebError(406, 'rendered studies and series are sent as multipart/related; '
                       'type="image/jpeg" (or "image/png"); the Accept header allows neither')
    return choices


def _numbers(name: str, text: str, count: int) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")[:count]]
    except ValueError:
        raise WebError(400, f"{name}={text!r}: expected numbers separated by commas") from None
    if len(values) < count:
        raise WebError(400, f"{name}={text!r}: expected {count} numbers")
    return values


def presentation(params: Any, thumbnail: bool) -> dict[str, Any]:
    """PS3.18 §8.3.5.1: window, viewport, quality (annotation is not supported: ignored)."""
    out: dict[str, Any] = {"viewport": THUMBNAIL_SIZE if thumbnail else None}
    if params.get("window"):
        center, width = _numbers("window", params["window"], 2)
        parts = params["window"].split(",")
        function = parts[2].strip().lower() if len(parts) > 2 else "linear"
        if width <= 0 or function not in ("linear", "linear-exact", "sigmoid"):
            raise WebError(400, f"window={params['window']!r}: width must be positive and the "
                           "function linear, linear-exact or sigmoid")
        out["window"] = (center, width, function)
    if params.get("viewport"):
        width, height = _numbers("viewport", params["viewport"], 2)
        if width < 1 or height < 1:
            raise WebError(400, f"viewport={params['viewport']!r}: sizes must be positive")
        out["viewport"] = (int(width), int(height))
    if params.get("quality"):
        quality = _numbers("quality", params["quality"], 1)[0]
        if not 1 <= quality <= 100:
            raise WebError(400, f"quality={params['quality']!r}: from 1 to 100")
        out["quality"] = int(quality)
    return out


# -- which instances of a study or series are images, in what order ------------------------------
@dataclass
class Image:
    """An instance to render: its index row, and how many frames (parts) it gives."""

    row: InstanceRow
    frames: int


@dataclass
class ImagePlan:
    images: list[Image]  # in display order
    left_out: dict[str, int] = field(default_factory=dict)  # SOP Class UID -> instances

    @property
    def parts(self) -> int:
        return sum(image.frames for image in self.images)


def _first(attrs: dict[str, Any], tag: str) -> Any:
    value = attrs.get(tag, {}).get("Value")
    return value[0] if value else None


def _integer(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def is_video(transfer_syntax: str) -> bool:
    return PIXEL_MEDIA_TYPES.get(transfer_syntax, "").startswith("video/")


def plan_images(index: Any, rows: list[InstanceRow], window: Any) -> ImagePlan:
    """The images among ``rows`` (the instances of a study or series), ordered by Series
    Number and Instance Number (unnumbered last, then in ingest order), from the metadata in
    the index: an image has Rows (the Image Pixel Module, PS3.3 C.7.6.3). A window for a
    colour image is a 400 here, as it is for the instance (PS3.3 C.11.2)."""
    keyed: list[tuple[tuple[int, int, int, int], Image]] = []
    left_out: dict[str, int] = {}
    series_rank: dict[str, int] = {}
    unnumbered = 1 << 62
    for start in range(0, len(rows), METADATA_BATCH):
        batch = rows[start:start + METADATA_BATCH]
        texts = index.metadata_texts([row.pk for row in batch])
        for position, row in enumerate(batch, start):
            text = texts.get(row.pk)
            if text is None:  # deleted since
                continue
            attrs = json.loads(text)
            if _first(attrs, "00280010") is None or is_video(row.transfer_syntax):
                left_out[row.sop_class] = left_out.get(row.sop_class, 0) + 1
                continue
            photometric = str(_first(attrs, "00280004") or "").strip().upper()
            samples = _integer(_first(attrs, "00280002")) or 1
            if window is not None and (photometric not in GRAYSCALE or samples != 1):
                raise WebError(400, f"instance {row.sop_uid} is {photometric or 'colour'}: "
                               "a window applies to grayscale images only (PS3.3 C.11.2)")
            series_number = _integer(_first(attrs, "00200011"))
            instance_number = _integer(_first(attrs, "00200013"))
            key = (unnumbered if series_number is None else series_number,
                   series_rank.setdefault(row.series_uid, len(series_rank)),
                   unnumbered if instance_number is None else instance_number, position)
            frames = max(1, _integer(_first(attrs, "00280008")) or 1)
            keyed.append((key, Image(row, frames)))
    keyed.sort(key=lambda pair: pair[0])
    return ImagePlan([image for _key, image in keyed], left_out)


# -- the resources --------------------------------------------------------------------------------
async def rendered(request: Request) -> Response:
    return await _render(request, thumbnail=False)


async def thumbnail(request: Request) -> Response:
    return await _render(request, thumbnail=True)


async def _render(request: Request, thumbnail: bool) -> Response:
    ctx = context(request)
    study, series, instance = request_uids(request)
    ranges = accept(request)
    if instance is not None and not thumbnail and "frames" not in request.path_params:
        # A document or a video renders as itself, a structured report as HTML or text
        # (documents.py, PS3.18 §8.7.4).
        rows = await ctx.locate(study, series, instance)
        media = documents.negotiate_rendered(ranges, rows[0])
        if media is not None:
            return await documents.send_rendered(ctx, ctx.base(request), rows[0], media)
    collection = instance is None and not thumbnail
    choices = negotiate_collection(ranges) if collection else []
    media_type = "" if collection else negotiate_image(ranges)
    options = presentation(request.query_params, thumbnail)
    if not pixels.rendering_available():
        raise WebError(501, "rendered images and thumbnails are not supported yet "
                       "(dicomkit.pixels.render is not available)")
    rows = await ctx.locate(study, series, instance)
    if instance is not None and rows[0].sop_class == registered(
            "GrayscaleSoftcopyPresentationStateStorage"):
        # The rendered presentation state: the (first) image it references, as it presents
        # it (PS3.18 §9.5.2, PS3.4 N.2); no other rendering parameter applies with it.
        options["presentation"] = await presentation_state(ctx, study, series or "", instance)
        options["window"] = None
        rows = await _presented_image(ctx, study, options["presentation"])
    if instance is None:
        window = options.get("window") if collection else None
        plan = await asyncio.to_thread(plan_images, ctx.archive.index, rows, window)
        if not plan.images:
            raise WebError(406, f"{_what(study, series)} holds no image to render: "
                           f"{_left_out(plan)}")
        if collection:
            return await _collection(request, ctx, plan, choices, options)
        # A study's or series' thumbnail is its middle image: "the origin server will
        # determine what constitutes a meaningful representation" (PS3.18 §10.4.1.1.4).
        rows = [plan.images[len(plan.images) // 2].row]
    index = 0
    if "frames" in request.path_params:
        numbers = frame_numbers(request.path_params["frames"])
        if len(numbers) != 1:
            raise WebError(400, "a rendered frame resource names exactly one frame")
        index = numbers[0] - 1
    data = await asyncio.to_thread(render_file, ctx.path_of(rows[0]), index, media_type, options)
    return Response(data, media_type=media_type)


async def _presented_image(ctx: WebContext, study: str, pr: Dataset) -> list[InstanceRow]:
    for series_item in pr.get("ReferencedSeriesSequence") or []:
        for image in series_item.get("ReferencedImageSequence") or []:
            uid = str(image.get("ReferencedSOPInstanceUID") or "")
            series = str(series_item.get("SeriesInstanceUID") or "")
            if uid and series:
                return await ctx.locate(study, series, uid)
    raise WebError(406, "the presentation state references no image to render")


def _what(study: str, series: str | None) -> str:
    return f"series {series}" if series else f"study {study}"


def _left_out(plan: ImagePlan) -> str:
    classes = ", ".join(f"{count} of SOP Class {uid}" for uid, count in plan.left_out.items())
    return (f"{sum(plan.left_out.values())} instance(s) with no image rendering were left out "
            f"({classes}); rendering them as text or video is not supported yet")


def without_accept(query: str) -> str:
    """The query as the client wrote it, less ``accept``: the rendering parameters that make
    a part's Content-Location name exactly that representation."""
    return "&".join(item for item in query.split("&")
                    if item and unquote_plus(item.partition("=")[0]) != "accept")


def choose(choices: list[tuple[bool, str]], parts: int, what: str) -> tuple[bool, str]:
    """PS3.18 §8.6.1.1: a single part payload holds exactly one representation."""
    for multipart, media_type in choices:
        if multipart or parts == 1:
            return multipart, media_type
    raise WebError(406, f"{what} renders to {parts} images, which are sent as multipart/"
                   f'related; type="{choices[0][1]}" (a single part payload holds one image, '
                   "PS3.18 §8.6.1.1); the Accept header does not allow it")


async def _collection(request: Request, ctx: WebContext, plan: ImagePlan,
                      choices: list[tuple[bool, str]], options: dict[str, Any]) -> Response:
    """The rendered study or series (§10.4.1.1.3), streamed one image at a time."""
    study, series, _ = request_uids(request)
    what = _what(study, series)
    multipart, media_type = choose(choices, plan.parts, what)
    base = ctx.base(request)
    query = without_accept(request.url.query)
    suffix = "/rendered" + (f"?{query}" if query else "")

    def location(image: Image, frame: int) -> str:
        url = instance_url(base, image.row)
        return url + (f"/frames/{frame}" if image.frames > 1 else "") + suffix

    first = plan.images[0]
    first_ds = await asyncio.to_thread(open_image, ctx.path_of(first.row))
    first_data = await asyncio.to_thread(render_frame, first_ds, 0, media_type, options)
    headers: dict[str, str] = {}
    status = 200
    if plan.left_out:
        status = 206
        headers["Warning"] = warning_header(_left_out(plan))
    if not multipart:
        headers["Content-Location"] = location(first, 1)
        return Response(first_data, status_code=status, headers=headers,
                        media_type=media_type)
    boundary = new_boundary()

    async def body(ds: Dataset | None, data: bytes | None) -> AsyncIterator[bytes]:
        for image in plan.images:
            path = ctx.path_of(image.row)
            try:
                for frame in range(1, image.frames + 1):
                    if data is None:
                        if ds is None:
                            ds = await asyncio.to_thread(open_image, path)
                        data = await asyncio.to_thread(render_frame, ds, frame - 1,
                                                       media_type, options)
                    yield part_head(boundary, media_type,
                                    [("Content-Location", location(image, frame))])
                    yield data + b"\r\n"
                    data = None
            except WebError as exc:
                # The status is sent: all that is left is to break the stream off, so that
                # the client sees an incomplete payload rather than a complete one.
                log.error("rendered %s: instance %s: %s", what, image.row.sop_uid,
                          exc.reason)
                raise
            ds = None  # one instance in memory at a time
        yield closing(boundary)

    return StreamingResponse(body(first_ds, first_data), status_code=status, headers=headers,
                             media_type=multipart_content_type(media_type, boundary))
