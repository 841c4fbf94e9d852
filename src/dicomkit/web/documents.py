"""Encapsulated documents, video and structured reports as their own media types (PS3.18
§8.7.3, §8.7.4, §10.4.1.1.1 and §10.4.1.1.3).

An instance of an Encapsulated Document SOP Class (PDF, CDA, STL, OBJ, MTL) is retrievable as
the document it holds, in the media type that its MIME Type of Encapsulated Document names
(``application/pdf``, ``text/xml``, ``model/stl``, ``model/obj``, ``model/mtl``); a video
instance (an MPEG-4 AVC/H.264 or HEVC transfer syntax) as its stream (``video/mp4``, or the
transfer syntax's own media type of Table 8.7.3-4, ``video/H265`` for HEVC):

- on the **instance** resource, when the Accept header names that media type (single part, or
  ``multipart/related; type=...``) before any DICOM media type; ``*/*`` and
  ``application/*`` still mean application/dicom there;
- on the instance's **rendered** resource, where it is the rendered form of such an instance
  (``*/*`` included); asking it for an image type is a 406 naming what it can be.

The bytes are what :func:`dicomkit.iod.encapsulated.unwrap` gives: the document exactly as
wrapped, the MP4 file as stored.

A structured report (any SR Storage SOP Class: Basic Text, Enhanced, Comprehensive, 3D,
Extensible, Key Object Selection, the CAD and dose reports …) renders on its **rendered**
resource as ``text/html`` (the first, so ``*/*`` gets it) or ``text/plain`` (Table 8.7.4-1, the
Rendered Media Types of a Structured Report; ``application/pdf`` is optional there and not
offered): :func:`dicomkit.sr.render_html` and :func:`dicomkit.sr.render_text`, UTF-8.
"""

from __future__ import annotations

import asyncio

from starlette.responses import Response

from dicomkit.archive.records import InstanceRow
from dicomkit.encoding.reader import read
from dicomkit.errors import DicomError
from dicomkit.iod.encapsulated import DOCUMENTS, WrapError, unwrap
from dicomkit.sr import SRError, render_html, render_text
from dicomkit.sr.constraints import iod_of_sop_class
from dicomkit.web.context import WebContext, instance_url
from dicomkit.web.errors import WebError
from dicomkit.web.media import (
    PIXEL_MEDIA_TYPES,
    MediaRange,
    closing,
    multipart_content_type,
    new_boundary,
    part_head,
)

DOCUMENT_TYPES = {spec.sop_class: spec.media_type for spec in DOCUMENTS.values()}
DICOM_TYPES = ("application/dicom", "application/*", "*/*")
#: PS3.18 Table 8.7.4-1, a Structured Report's Rendered Media Types that dicomkit writes.
SR_RENDERED_TYPES = ("text/html", "text/plain")


def is_structured_report(sop_class: str) -> bool:
    """An SR Storage SOP Class: one :mod:`dicomkit.sr` has an IOD table for, or any other
    whose PS3.6 keyword names it an SR (``MammographyCADSRStorage``,
    ``XRayRadiationDoseSRStorage`` …)."""
    from dicomkit.core.uid import uid_info

    if iod_of_sop_class(sop_class) is not None:
        return True
    info = uid_info(sop_class)
    return info is not None and info.keyword.endswith("SRStorage")


def media_types(row: InstanceRow) -> list[str]:
    """The media types ``row`` can be sent as besides DICOM, the first its own: an
    encapsulated document's MIME type, a video's ``video/mp4`` and its transfer syntax's
    media type; [] for anything else."""
    from dicomkit.core.uid import uid_info

    info = uid_info(row.sop_class)
    if info is not None and info.keyword in DOCUMENT_TYPES:
        return [DOCUMENT_TYPES[info.keyword]]
    video = PIXEL_MEDIA_TYPES.get(row.transfer_syntax, "")
    if video.startswith("video/"):
        return list(dict.fromkeys(["video/mp4", video]))
    return []


def negotiate_instance(ranges: list[MediaRange], row: InstanceRow) -> tuple[bool, str] | None:
    """(multipart, media type) when the Accept header asks for the instance as its document or
    video before it asks for DICOM; None to send DICOM as usual."""
    offered = media_types(row)
    if not offered:
        return None
    for item in ranges:
        wanted = item.part_type if item.is_multipart else item.media_type
        if wanted in DICOM_TYPES or wanted.startswith("application/dicom"):
            return None
        for media in offered:
            if item.matches(media) if not item.is_multipart else _part_matches(wanted, media):
                return item.is_multipart, media
    return None


def _part_matches(part_type: str, media: str) -> bool:
    return MediaRange(part_type).matches(media)


def rendered_types(row: InstanceRow) -> list[str]:
    """The rendered media types of ``row`` besides images, the first the default: a structured
    report's text/html and text/plain, a document's or video's :func:`media_types`."""
    if is_structured_report(row.sop_class):
        return list(SR_RENDERED_TYPES)
    return media_types(row)


def negotiate_rendered(ranges: list[MediaRange], row: InstanceRow) -> str | None:
    """The rendered media type of a document, video or structured report instance (any range
    that matches, ``*/*`` included); None when ``row`` is none of them; 406 when the Accept
    header allows none of its types."""
    offered = rendered_types(row)
    if not offered:
        return None
    for item in ranges:
        if item.is_multipart:
            continue
        for media in offered:
            if item.matches(media):
                return media
    kind = ("a structured report" if offered[0] == SR_RENDERED_TYPES[0] else
            "a video" if offered[0].startswith("video/") else "a document")
    raise WebError(406, f"instance {row.sop_uid} is {kind}: its "
                   f"rendered form is {' or '.join(offered)}, which the Accept header does "
                   "not allow")


def document_bytes(path: str, sop_uid: str) -> tuple[bytes, str]:
    try:
        return unwrap(read(path))
    except (WrapError, DicomError, OSError) as exc:
        raise WebError(500, f"instance {sop_uid}: its document cannot be read: {exc}") from exc


def report_text(path: str, sop_uid: str, media: str) -> str:
    """A stored structured report rendered as ``media`` (text/html or text/plain); the tree
    is read without the IOD check, so that what was stored can be shown."""
    try:
        return render_html(path) if media == "text/html" else render_text(path)
    except (SRError, DicomError, OSError) as exc:
        raise WebError(500, f"instance {sop_uid}: its report cannot be rendered: {exc}") \
            from exc


async def send_rendered(ctx: WebContext, base: str, row: InstanceRow, media: str) -> Response:
    """The rendered instance resource of a document, video or structured report."""
    if media in SR_RENDERED_TYPES and is_structured_report(row.sop_class):
        text = await asyncio.to_thread(report_text, ctx.path_of(row), row.sop_uid, media)
        return Response(text.encode("utf-8"), media_type=f"{media}; charset=utf-8")
    return await send(ctx, base, row, False, media)


async def send(ctx: WebContext, base: str, row: InstanceRow, multipart: bool,
               media: str) -> Response:
    """The document of ``row`` as ``media``, single part or as the one part of a
    ``multipart/related`` payload (§8.6.1.2) with its Content-Location."""
    data, held = await asyncio.to_thread(document_bytes, ctx.path_of(row), row.sop_uid)
    if media == "video/mp4" and held != media:
        media = held  # a raw stream another tool stored is not an MP4 file: say what it is
    if not multipart:
        return Response(data, media_type=media)
    boundary = new_boundary()
    body = b"".join([part_head(boundary, media, [("Content-Location", instance_url(base, row))]),
                     data, b"\r\n", closing(boundary)])
    return Response(body, media_type=multipart_content_type(media, boundary, None))
