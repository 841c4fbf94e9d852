"""WADO-RS, the Retrieve transaction (PS3.18 §10.4): instances, metadata, bulk data and frames;
rendered images and thumbnails are :mod:`dicomkit.web.rendered`, on :func:`render_frame`.

Instances go out as stored, streamed from their files, whenever the Accept header allows their
transfer syntax (``transfer-syntax=*`` always does); otherwise they are transcoded when that is
possible, and refused with 406 when it is not. Metadata comes from the index only (the files are
never opened); its bulk data references point at the ``bulkdata`` resource, which reads one
element from the file by its tag path and honours a byte Range (RFC 9110 §14).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from dicomkit.archive.records import InstanceRow
from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import registered
from dicomkit.encoding import transfer_syntax as ts_mod
from dicomkit.encoding.json import binary_value, from_json, is_binary_vr
from dicomkit.encoding.reader import read
from dicomkit.encoding.transfer_syntax import is_native
from dicomkit.encoding.xml import to_xml
from dicomkit.errors import DicomError, NotSupportedError
from dicomkit.web import documents, pixels
from dicomkit.web.context import (
    CHUNK,
    FileSpan,
    SpanResponse,
    accept,
    context,
    file_size,
    instance_url,
    one_span,
    request_uids,
)
from dicomkit.web.errors import WebError
from dicomkit.web.media import (
    DICOM,
    DICOM_JSON,
    DICOM_XML,
    EXPLICIT_VR_LITTLE_ENDIAN,
    OCTET_STREAM,
    PIXEL_MEDIA_TYPES,
    MediaRange,
    closing,
    multipart_content_type,
    negotiate_json_or_xml,
    new_boundary,
    part_head,
)
from dicomkit.web.qido import absolute_bulk_uris

METADATA_BATCH = 200


# -- instances (§10.4.1.1.1) ---------------------------------------------------------------------
@dataclass
class DicomChoice:
    syntaxes: list[str]  # in preference order; "*" = as stored
    multipart: bool = True


def negotiate_dicom(ranges: list[MediaRange], single: bool) -> DicomChoice:
    """PS3.18 §8.7.3.5.2: ``multipart/related; type="application/dicom"`` without a
    transfer-syntax parameter means Explicit VR Little Endian; ``*`` means any. An Accept of
    ``*/*`` (or none) takes the instances as stored."""
    syntaxes: list[str] = []
    multipart = True
    for item in ranges:
        if item.is_multipart or item.media_type == "multipart/*":
            part = item.part_type
            if part not in (DICOM, "application/*", "*/*"):
                continue
            default = "*" if part == "*/*" else EXPLICIT_VR_LITTLE_ENDIAN
            syntaxes.append(item.transfer_syntax or default)
        elif item.media_type == "*/*":
            syntaxes.append(item.transfer_syntax or "*")
        elif item.media_type == DICOM and single:
            syntaxes.append(item.transfer_syntax or EXPLICIT_VR_LITTLE_ENDIAN)
            if not syntaxes[:-1]:
                multipart = False
    if not syntaxes:
        raise WebError(406, "instances are sent as multipart/related; type=\"application/dicom\""
                       + ("" if not single else " (or application/dicom)")
                       + "; the Accept header allows neither")
    return DicomChoice(syntaxes, multipart)


def plan(stored: str, wanted: list[str]) -> tuple[str, str] | None:
    """(how, transfer syntax): ``stored`` (the file as it is), ``transcode``, or None."""
    for uid in wanted:
        if uid == "*" or uid == stored:
            return "stored", stored
        try:
            ts_mod.lookup(uid)
        except NotSupportedError:
            continue
        if is_native(stored) and is_native(uid):
            return "transcode", uid
        if pixels.transcode_available():
            return "transcode", uid
    return None


def transcoded_file(path: str, uid: str) -> bytes:
    try:
        return pixels.transcoded(read(path), uid)
    except (pixels.Unavailable, DicomError, ValueError) as exc:
        raise WebError(406, f"cannot convert to transfer syntax {uid}: {exc}") from exc


async def retrieve(request: Request) -> Response:
    ctx = context(request)
    study, series, instance = request_uids(request)
    ranges = accept(request)
    if instance is not None:
        # An encapsulated document or a video asked for as its own media type (documents.py).
        rows = await ctx.locate(study, series, instance)
        chosen_document = documents.negotiate_instance(ranges, rows[0])
        if chosen_document is not None:
            return await documents.send(ctx, ctx.base(request), rows[0], *chosen_document)
    if ranges and ranges[0].media_type == ZIP:
        return await zip_response(ctx, ranges[0], await ctx.locate(study, series, instance),
                                  instance or series or study)
    choice = negotiate_dicom(ranges, single=instance is not None)
    if instance is None:
        rows = await ctx.locate(study, series, instance)
    plans = []
    for row in rows:
        chosen = plan(row.transfer_syntax, choice.syntaxes)
        if chosen is None:
            raise WebError(406, f"instance {row.sop_uid} is stored in transfer syntax "
                           f"{row.transfer_syntax}; converting it to "
                           f"{', '.join(choice.syntaxes)} is not supported yet (ask with "
                           "transfer-syntax=* to get it as stored)")
        plans.append(chosen)
    base = ctx.base(request)
    if not choice.multipart:
        (how, uid), row = plans[0], rows[0]
        path = ctx.path_of(row)
        if how == "stored":
            size = await asyncio.to_thread(file_size, path)
            return SpanResponse(one_span(FileSpan(path, 0, size)), headers={
                "Content-Length": str(size)}, media_type=f"{DICOM}; transfer-syntax={uid}")
        data = await asyncio.to_thread(transcoded_file, path, uid)
        return Response(data, media_type=f"{DICOM}; transfer-syntax={uid}")
    boundary = new_boundary()
    uniform = {uid for _how, uid in plans}
    # The first conversion runs before the response starts, so a codec that cannot do it is
    # a 406, not a broken stream.
    first: bytes | None = None
    if plans[0][0] == "transcode":
        first = await asyncio.to_thread(transcoded_file, ctx.path_of(rows[0]), plans[0][1])

    async def body() -> AsyncIterator[bytes | FileSpan]:
        for number, (row, (how, uid)) in enumerate(zip(rows, plans, strict=True)):
            path = ctx.path_of(row)
            yield part_head(boundary, f"{DICOM}; transfer-syntax={uid}",
                            [("Content-Location", instance_url(base, row))])
            if how == "stored":
                yield FileSpan(path)  # the whole file, as long as it is when sent
            elif number == 0 and first is not None:
                yield first
            else:
                yield await asyncio.to_thread(transcoded_file, path, uid)
            yield b"\r\n"
        yield closing(boundary)

    return SpanResponse(body(), media_type=multipart_content_type(
        DICOM, boundary, uniform.pop() if len(uniform) == 1 else None))



# -- application/zip (§8.7.3.10, PS3.12 Annex V) --------------------------------------------------
ZIP = "application/zip"


async def zip_response(ctx: Any, chosen: MediaRange, rows: list[InstanceRow], name: str
                       ) -> Response:
    """A study, series or instance as one ZIP whose root holds a DICOMDIR and the files it
    references (PS3.18 §8.7.3.10 with PS3.12 Annex V), the files as stored; streamed as it is
    made, in bounded memory (:func:`dicomkit.media.iter_zip`). Asked for first by the Accept
    header or the ``accept`` query parameter (a browser link:
    ``/studies/{uid}?accept=application/zip``)."""
    from dicomkit.media import ZipEntry, iter_zip

    syntax = chosen.transfer_syntax
    if syntax not in (None, "*"):
        raise WebError(406, "application/zip holds the instances as stored: ask with no "
                       "transfer-syntax parameter (or transfer-syntax=*)")
    chunks = iter_zip([ZipEntry(ctx.path_of(row)) for row in rows])
    first = await asyncio.to_thread(next, chunks, b"")

    async def body() -> AsyncIterator[bytes]:
        chunk: bytes | None = first
        while chunk is not None:
            if chunk:
                yield chunk
            chunk = await asyncio.to_thread(next, chunks, None)

    return StreamingResponse(body(), media_type=ZIP, headers={
        "Content-Disposition": f'attachment; filename="{name}.zip"'})


# -- metadata (§10.4.1.1.2) ---------------------------------------------------------------------
async def metadata(request: Request) -> Response:
    ctx = context(request)
    study, series, instance = request_uids(request)
    kind = negotiate_json_or_xml(accept(request), "metadata is sent as")
    rows = await ctx.locate(study, series, instance)
    base = ctx.base(request)
    index = ctx.archive.index
    boundary = new_boundary()

    async def texts() -> AsyncIterator[str]:
        for start in range(0, len(rows), METADATA_BATCH):
            batch = rows[start:start + METADATA_BATCH]
            found = await asyncio.to_thread(index.metadata_texts, [r.pk for r in batch])
            for row in batch:
                text = found.get(row.pk)
                if text is not None:  # deleted since: left out
                    yield absolute_bulk_uris(with_pixel_data(text, row), instance_url(base, row))

    async def json_body() -> AsyncIterator[bytes]:
        first = True
        yield b"["
        async for text in texts():
            yield (b"" if first else b",") + text.encode("utf-8")
            first = False
        yield b"]"

    async def xml_body() -> AsyncIterator[bytes]:
        async for text in texts():
            document = to_xml(from_json(text)).encode("utf-8")
            yield part_head(boundary, f"{DICOM_XML}; charset=utf-8") + document + b"\r\n"
        yield closing(boundary)

    if kind == "json":
        return StreamingResponse(json_body(), media_type=DICOM_JSON)
    return StreamingResponse(xml_body(), media_type=multipart_content_type(DICOM_XML, boundary))


def with_pixel_data(text: str, row: InstanceRow) -> str:
    """The index keeps the header only (ingest stops before Pixel Data); an image's metadata
    still names its Pixel Data (PS3.18 §10.4.1.1.2), as a bulk data reference."""
    if '"00280010"' not in text or '"7FE00010"' in text or not text.endswith("}"):
        return text
    vr = "OW" if is_native(row.transfer_syntax) else "OB"
    return text[:-1] + f',"7FE00010":{{"vr":"{vr}","BulkDataURI":"bulkdata/7FE00010"}}}}'


# -- bulk data (§10.4.1.1.5) --------------------------------------------------------------------
@dataclass
class Located:
    """A bulk data value: a byte range of the file, or bytes in memory."""

    length: int
    offset: int | None = None
    data: bytes | None = None


def _element_at(ds: Dataset, tag_path: str) -> tuple[Dataset, int]:
    """``7FE00010`` or ``00540016/0/00181072``: tags and 0-based item numbers (PS3.18 F.2.6
    as dicomkit writes it)."""
    parts = [p for p in tag_path.strip("/").split("/") if p]
    if not parts or len(parts) % 2 == 0:
        raise WebError(400, f"bulk data path {tag_path!r} is not tag[/item/tag…]")
    current = ds
    for position in range(0, len(parts), 2):
        text = parts[position]
        if len(text) != 8 or not all(c in "0123456789abcdefABCDEF" for c in text):
            raise WebError(400, f"bulk data path {tag_path!r}: {text!r} is not a tag")
        tag = int(text, 16)
        if tag not in current:
            raise WebError(404, f"the instance has no {text} at {tag_path!r}")
        if position == len(parts) - 1:
            return current, tag
        element = current[tag]
        found: Dataset | None = None
        try:
            item = int(parts[position + 1])
            found = element.value[item] if element.VR == "SQ" else None
        except (ValueError, IndexError, TypeError):
            found = None
        if found is None:
            raise WebError(404, f"bulk data path {tag_path!r}: no item {parts[position + 1]} "
                           f"in {text}")
        current = found
    raise AssertionError("unreachable")


def locate_bulk(path: str, tag_path: str) -> Located:
    try:
        ds = read(path)
    except (DicomError, OSError) as exc:
        raise WebError(500, f"the stored file cannot be read: {exc}") from exc
    container, tag = _element_at(ds, tag_path)
    entry = container.raw_entry(tag)
    deflated = bool(ds.transfer_syntax and ds.transfer_syntax.deflated)
    if (type(entry) is tuple and container.buffer is ds.buffer and not deflated
            and (ds.is_little_endian or entry[0] in ("OB", "UN"))):
        return Located(entry[2], offset=entry[1])  # straight from the file
    element = container[tag]
    if element.VR == "SQ":
        raise WebError(400, f"{tag_path} is a sequence, not bulk data")
    data = binary_value(element) if is_binary_vr(element.VR) else element.value_bytes(True)
    return Located(len(data), data=data)


_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")


def byte_range(header: str | None, length: int) -> tuple[int, int] | None:
    """RFC 9110 §14.1.2: one range ``bytes=a-b``, ``a-`` or ``-n`` → (start, end exclusive);
    several ranges are answered in full (§14.2 allows ignoring Range)."""
    if not header or "," in header:
        return None
    match = _RANGE.match(header)
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        start, end = max(0, length - int(last)), length
    else:
        start = int(first)
        end = min(length, int(last) + 1) if last else length
    if start >= length or start >= end:
        raise WebError(416, f"range {header!r} is outside the {length} byte(s) of the value",
                       {"Content-Range": f"bytes */{length}"})
    return start, end


def negotiate_bulk(ranges: list[MediaRange]) -> bool:
    """True: multipart/related (the default of §8.7.3.5.3); False: a single body."""
    for item in ranges:
        if item.is_multipart and item.part_type in (OCTET_STREAM, "application/*", "*/*"):
            return True
        if item.media_type == "*/*":
            return True
        if item.media_type in (OCTET_STREAM, "application/*"):
            return False
    raise WebError(406, "bulk data is sent as multipart/related; "
                   "type=\"application/octet-stream\" or application/octet-stream")


async def bulkdata(request: Request) -> Response:
    ctx = context(request)
    study, series, instance = request_uids(request)
    multipart = negotiate_bulk(accept(request))
    row = (await ctx.locate(study, series, instance))[0]
    path = ctx.path_of(row)
    found = await asyncio.to_thread(locate_bulk, path, request.path_params["path"])
    span = byte_range(request.headers.get("range"), found.length)
    start, end = span if span is not None else (0, found.length)

    async def value() -> AsyncIterator[bytes | FileSpan]:
        if found.data is not None:
            for at in range(start, end, CHUNK):
                yield found.data[at:min(end, at + CHUNK)]
        else:
            assert found.offset is not None
            yield FileSpan(path, found.offset + start, end - start)

    status = 206 if span is not None else 200
    content_range = f"bytes {start}-{end - 1}/{found.length}"
    if not multipart:
        headers = {"Content-Length": str(end - start), "Accept-Ranges": "bytes"}
        if span is not None:
            headers["Content-Range"] = content_range
        return SpanResponse(value(), status_code=status, headers=headers,
                            media_type=OCTET_STREAM)
    boundary = new_boundary()
    extra = [("Content-Location", str(request.url.remove_query_params("accept")))]
    if span is not None:
        extra.append(("Content-Range", content_range))

    async def body() -> AsyncIterator[bytes | FileSpan]:
        yield part_head(boundary, OCTET_STREAM, extra)
        async for piece in value():
            yield piece
        yield b"\r\n" + closing(boundary)

    return SpanResponse(body(), status_code=status, headers={"Accept-Ranges": "bytes"},
                        media_type=multipart_content_type(OCTET_STREAM, boundary))


# -- frames (§10.4.1.1.4) -----------------------------------------------------------------------
def frame_numbers(text: str) -> list[int]:
    numbers = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 1:
            raise WebError(400, f"frame list {text!r}: {part!r} is not a frame number (from 1)")
        numbers.append(int(part))
    return numbers


# PS3.18 Table 8.7.3-5: the default transfer syntax of each compressed image media type, for
# frames asked for in a media type other than the one they are stored in.
ENCODED_DEFAULTS = {
    "image/jpeg": registered("JPEGLosslessSV1"),
    "image/dicom-rle": registered("RLELossless"),
    "image/jls": registered("JPEGLSLossless"),
    "image/jp2": registered("JPEG2000Lossless"),
    "image/jpx": registered("JPEG2000MCLossless"),
    "image/jphc": registered("HTJ2KLossless"),
}


def negotiate_frames(ranges: list[MediaRange], stored: str) -> list[str]:
    """The ways frames may go, by preference: ``octet`` (uncompressed, application/octet-
    stream), ``stored`` (the compressed bit stream in its image/ or video/ media type),
    ``any`` (whichever needs no conversion) or ``encode:<transfer syntax>`` (encoded in
    another compressed image media type)."""
    compressed_type = PIXEL_MEDIA_TYPES.get(stored)
    ways = []
    for item in ranges:
        if item.is_multipart:
            part, ts = item.part_type, item.transfer_syntax
        elif item.media_type == "*/*":
            part, ts = "*/*", item.transfer_syntax
        else:
            continue
        if part == "*/*" and ts in (None, "*"):
            ways.append("any")
        elif part in (OCTET_STREAM, "application/*") and ts in (
                None, "*", EXPLICIT_VR_LITTLE_ENDIAN):
            ways.append("octet")
        elif (compressed_type is not None and MediaRange(part).matches(compressed_type)
              and ts in (None, "*", stored)):
            ways.append("stored")
        elif part == "*/*" and ts == EXPLICIT_VR_LITTLE_ENDIAN:
            ways.append("octet")
        elif part == "*/*" and ts == stored and compressed_type is not None:
            ways.append("stored")
        elif part in ENCODED_DEFAULTS:
            # Another compressed media type than the stored one: the frames are encoded in
            # it (PS3.18 §8.7.3.3.2: the transfer-syntax parameter, or the media type's
            # default from Table 8.7.3-5).
            target = ENCODED_DEFAULTS[part] if ts in (None, "*") else ts
            if PIXEL_MEDIA_TYPES.get(target) == part and target != stored:
                ways.append(f"encode:{target}")
    if not ways:
        offered = OCTET_STREAM + (f" or {compressed_type}" if compressed_type else "")
        raise WebError(406, f"frames of this instance are sent as multipart/related; type="
                       f"\"{offered}\"; the Accept header allows neither")
    return ways


@dataclass
class FrameParts:
    media_type: str
    transfer_syntax: str
    frames: list[tuple[int, Any]]  # (number, bytes or (offset, length) in the file)


def _frames_of(path: str, stored: str, numbers: list[int], ways: list[str]) -> FrameParts:
    try:
        ds = read(path)
    except (DicomError, OSError) as exc:
        raise WebError(500, f"the stored file cannot be read: {exc}") from exc
    if pixels.pixel_tag(ds) is None:
        raise WebError(404, "the instance has no pixel data, so no frames")
    count = pixels.frame_count(ds)
    beyond = [n for n in numbers if n > count]
    if beyond:
        raise WebError(404, f"frame(s) {', '.join(map(str, beyond))} do not exist: the "
                       f"instance has {count} frame(s)")
    native = is_native(stored)
    reasons = []
    for way in ways:
        try:
            if native and way in ("octet", "any"):
                deflated = bool(ds.transfer_syntax and ds.transfer_syntax.deflated)
                layout = pixels.native_frames(ds, file_backed=not deflated)
                size = layout.frame_bytes
                out: list[tuple[int, Any]] = []
                for n in numbers:
                    if layout.offset is not None:
                        out.append((n, (layout.offset + (n - 1) * size, size)))
                    else:
                        assert layout.data is not None
                        out.append((n, bytes(layout.data[(n - 1) * size:n * size])))
                return FrameParts(OCTET_STREAM, EXPLICIT_VR_LITTLE_ENDIAN, out)
            if not native and way in ("stored", "any"):
                return FrameParts(PIXEL_MEDIA_TYPES.get(stored, OCTET_STREAM), stored,
                                  [(n, bytes(pixels.stored_frame(ds, n - 1))) for n in numbers])
            if not native and way == "octet":
                return FrameParts(OCTET_STREAM, EXPLICIT_VR_LITTLE_ENDIAN,
                                  [(n, pixels.decoded_frame(ds, n - 1)) for n in numbers])
            if way.startswith("encode:"):
                target = way.split(":", 1)[1]
                converted = read(pixels.transcoded(ds, target))
                return FrameParts(PIXEL_MEDIA_TYPES[target], target,
                                  [(n, bytes(pixels.stored_frame(converted, n - 1)))
                                   for n in numbers])
        except pixels.Unavailable as exc:
            reasons.append(str(exc))
        except DicomError as exc:
            raise WebError(500, f"the pixel data cannot be read: {exc}") from exc
    raise WebError(406, "the frames cannot be sent in an acceptable form: "
                   + ("; ".join(reasons) or f"they are stored in {stored}"))


async def frames(request: Request) -> Response:
    ctx = context(request)
    study, series, instance = request_uids(request)
    numbers = frame_numbers(request.path_params["frames"])
    row = (await ctx.locate(study, series, instance))[0]
    ways = negotiate_frames(accept(request), row.transfer_syntax)
    path = ctx.path_of(row)
    parts = await asyncio.to_thread(_frames_of, path, row.transfer_syntax, numbers, ways)
    boundary = new_boundary()
    url = instance_url(ctx.base(request), row)
    part_type = f"{parts.media_type}; transfer-syntax={parts.transfer_syntax}"

    async def body() -> AsyncIterator[bytes | FileSpan]:
        for number, data in parts.frames:
            yield part_head(boundary, part_type, [("Content-Location",
                                                   f"{url}/frames/{number}")])
            yield FileSpan(path, data[0], data[1]) if isinstance(data, tuple) else data
            yield b"\r\n"
        yield closing(boundary)

    return SpanResponse(body(), media_type=multipart_content_type(
        parts.media_type, boundary, parts.transfer_syntax))


# -- rendering one frame (shared by rendered.py and WADO-URI) ------------------------------------
async def presentation_state(ctx: Any, study: str, series: str, uid: str) -> Dataset:
    """The Grayscale Softcopy Presentation State ``uid`` of the study, read from the archive:
    404 when the index does not hold it, 400 when it is another kind of instance."""
    rows = await ctx.locate(study, series, uid)
    if rows[0].sop_class != registered("GrayscaleSoftcopyPresentationStateStorage"):
        raise WebError(400, f"instance {uid} is not a Grayscale Softcopy Presentation State "
                       f"(its SOP Class is {rows[0].sop_class})")
    try:
        return await asyncio.to_thread(read, ctx.path_of(rows[0]))
    except (DicomError, OSError) as exc:
        raise WebError(500, f"the presentation state cannot be read: {exc}") from exc


def open_image(path: str) -> Dataset:
    """The stored data set of an image, read to be rendered; 406 when it has no pixel data."""
    try:
        ds = read(path)
    except (DicomError, OSError) as exc:
        raise WebError(500, f"the stored file cannot be read: {exc}") from exc
    if pixels.pixel_tag(ds) is None:
        raise WebError(406, "the instance has no pixel data to render")
    return ds


def render_frame(ds: Dataset, index: int, media_type: str, options: dict[str, Any]) -> bytes:
    """Frame ``index`` (from 0) of an image in a Rendered Media Type (PS3.18 §8.7.4), with the
    presentation of §8.3.5.1 (``window``, ``viewport``, ``quality``, as read by
    :func:`dicomkit.web.rendered.presentation`); the renderer's failures as status codes."""
    try:
        return pixels.rendered(ds, index, media_type, window=options.get("window"),
                               viewport=options.get("viewport"),
                               quality=options.get("quality"),
                               presentation=options.get("presentation"))
    except pixels.Unavailable as exc:
        raise WebError(501, f"not supported yet: {exc}") from exc
    except pixels.NotRenderable as exc:  # e.g. a window for a colour image (PS3.3 C.11.2)
        raise WebError(400, f"the image cannot be rendered so: {exc}") from exc
    except (DicomError, ValueError) as exc:
        raise WebError(500, f"the image cannot be rendered: {exc}") from exc


def render_file(path: str, index: int, media_type: str, options: dict[str, Any]) -> bytes:
    ds = open_image(path)
    if index >= pixels.frame_count(ds):
        raise WebError(404, f"frame {index + 1} does not exist: the instance has "
                       f"{pixels.frame_count(ds)} frame(s)")
    return render_frame(ds, index, media_type, options)
