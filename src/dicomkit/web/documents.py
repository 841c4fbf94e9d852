"""Encapsulated documents and video as their own media types (PS3.18 §8.7.3, §8.7.4,
§10.4.1.1.1 and §10.4.1.1.3).

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
"""

from __future__ import annotations

import asyncio

from starlette.responses import Response

from dicomkit.archive.records import InstanceRow
from dicomkit.encoding.reader import read
from dicomkit.errors import DicomError
from dicomkit.iod.encapsulated import DOCUMENTS, WrapError, unwrap
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


def negotiate_rendered(ranges: list[MediaRange], row: InstanceRow) -> str | None:
    """The rendered media type of a document or video instance (any range that matches, ``*/*``
    included); None when ``row`` is neither; 406 when the Accept header allows none of its
    types."""
    offered = media_types(row)
    if not offered:
        return None
    for item in ranges:
        if item.is_multipart:
            continue
        for media in offered:
            if item.matches(media):
                return media
    raise WebError(406, f"instance {row.sop_uid} is "
                   f"{'a video' if offered[0].startswith('video/') else 'a document'}: its "
                   f"rendered form is {' or '.join(offered)}, which the Accept header does "
                   "not allow")


def document_bytes(path: str, sop_uid: str) -> tuple[bytes, str]:
    try:
        return unwrap(read(path))
    except (WrapError, DicomError, OSError) as exc:
        raise WebError(500, f"instance {sop_uid}: its document cannot be read: {exc}") from exc


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
