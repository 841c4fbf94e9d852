"""Media types for PS3.18 §8.7: Accept negotiation and multipart/related (RFC 2387) both ways.

:func:`parse_accept` reads an Accept header (or the ``accept`` query parameter, §8.3.3.1) into
media ranges, highest quality first. :func:`part_head` and :func:`closing` frame the parts a
response streams as they are produced; :class:`MultipartParser` reads a request body chunk by
chunk, so a STOW-RS part of any size goes to disk without being held in memory.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field

from dicomkit.core.uid import ExplicitVRLittleEndian, registered
from dicomkit.web.errors import WebError

DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"
DICOM_XML = "application/dicom+xml"
OCTET_STREAM = "application/octet-stream"
MULTIPART = "multipart/related"
EXPLICIT_VR_LITTLE_ENDIAN = ExplicitVRLittleEndian

#: PS3.18 Table 8.7.3-5 (and 8.7.4-1): the media type that carries a frame or pixel data
#: bulk data in each compressed transfer syntax.
PIXEL_MEDIA_TYPES: dict[str, str] = {
    registered("RLELossless"): "image/dicom-rle",
    registered("JPEGBaseline8Bit"): "image/jpeg",
    registered("JPEGExtended12Bit"): "image/jpeg",
    registered("JPEGLossless"): "image/jpeg",
    registered("JPEGLosslessSV1"): "image/jpeg",
    registered("JPEGLSLossless"): "image/jls",
    registered("JPEGLSNearLossless"): "image/jls",
    registered("JPEG2000Lossless"): "image/jp2",
    registered("JPEG2000"): "image/jp2",
    registered("JPEG2000MCLossless"): "image/jpx",
    registered("JPEG2000MC"): "image/jpx",
    registered("HTJ2KLossless"): "image/jphc",
    registered("HTJ2KLosslessRPCL"): "image/jphc",
    registered("HTJ2K"): "image/jphc",
    registered("MPEG2MPML"): "video/mpeg2",
    registered("MPEG2MPHL"): "video/mpeg2",
    registered("MPEG4HP41"): "video/mp4",
    registered("MPEG4HP41BD"): "video/mp4",
    registered("MPEG4HP422D"): "video/mp4",
    registered("MPEG4HP423D"): "video/mp4",
    registered("MPEG4HP42STEREO"): "video/mp4",
    registered("HEVCMP51"): "video/H265",
    registered("HEVCM10P51"): "video/H265",
}


@dataclass
class MediaRange:
    """One element of an Accept header: ``type/subtype`` with its parameters and quality."""

    media_type: str
    params: dict[str, str] = field(default_factory=dict)
    q: float = 1.0

    def matches(self, media_type: str) -> bool:
        """Does this range accept ``media_type`` (``*/*`` and ``image/*`` wild cards)?"""
        kind, _, sub = self.media_type.partition("/")
        other_kind, _, other_sub = media_type.lower().partition("/")
        return (kind == "*" or kind == other_kind) and (sub == "*" or sub == other_sub)

    @property
    def is_multipart(self) -> bool:
        return self.media_type == MULTIPART

    @property
    def part_type(self) -> str:
        """The ``type`` parameter of a multipart range (``*/*`` when absent or a wild card)."""
        return self.params.get("type", "*/*").lower() or "*/*"

    @property
    def transfer_syntax(self) -> str | None:
        return self.params.get("transfer-syntax")


def _split(text: str, separator: str) -> list[str]:
    """Split on ``separator`` outside double quotes."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def parse_media_type(text: str) -> tuple[str, dict[str, str]]:
    """``type/subtype; name=value …`` → (lower-case type, parameters, unquoted)."""
    pieces = _split(text, ";")
    media_type = pieces[0].strip().lower()
    params: dict[str, str] = {}
    for piece in pieces[1:]:
        name, _, value = piece.partition("=")
        name = name.strip().lower()
        if name:
            params[name] = value.strip().strip('"').strip()
    return media_type, params


def parse_accept(header: str | None) -> list[MediaRange]:
    """RFC 9110 §12.5.1: the ranges of an Accept header, by quality (stable); none: ``*/*``."""
    ranges: list[MediaRange] = []
    for text in _split(header or "", ","):
        if not text.strip():
            continue
        media_type, params = parse_media_type(text)
        if "/" not in media_type:
            raise WebError(400, f"Accept: {text.strip()!r} is not a media range")
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            raise WebError(400, f"Accept: bad quality value in {text.strip()!r}") from None
        if q > 0:
            ranges.append(MediaRange(media_type, params, q))
    if not ranges:
        ranges.append(MediaRange("*/*"))
    ranges.sort(key=lambda r: -r.q)
    return ranges


def accept_of(header: str | None, query_accept: str | None) -> list[MediaRange]:
    """PS3.18 §8.3.3.1: the ``accept`` query parameter, when given, replaces the header."""
    return parse_accept(query_accept if query_accept else header)


def negotiate_json_or_xml(ranges: list[MediaRange], what: str) -> str:
    """``"json"`` or ``"xml"``: the form of a QIDO-RS answer (PS3.18 §10.6.3.2) or of WADO-RS
    metadata (§10.4.1.1.2) the Accept ranges take first — application/dicom+json (or
    application/json and the wild cards), or multipart/related; type="application/dicom+xml";
    406 naming ``what`` when they allow neither."""
    for item in ranges:
        if item.is_multipart and item.part_type in (DICOM_XML, "application/xml"):
            return "xml"
        if not item.is_multipart and item.media_type in (
                DICOM_JSON, "application/json", "application/*", "*/*"):
            return "json"
    raise WebError(406, f"{what} application/dicom+json or multipart/related; "
                   "type=\"application/dicom+xml\"; the Accept header allows neither")


# -- writing -----------------------------------------------------------------------------------
def new_boundary() -> str:
    return uuid.uuid4().hex


def multipart_content_type(part_type: str, boundary: str, transfer_syntax: str | None = None
                           ) -> str:
    text = f'{MULTIPART}; type="{part_type}"; boundary={boundary}'
    if transfer_syntax:
        text += f"; transfer-syntax={transfer_syntax}"
    return text


def part_head(boundary: str, content_type: str, extra: Iterable[tuple[str, str]] = ()) -> bytes:
    """The delimiter and headers that open a part (RFC 2046 §5.1.1)."""
    lines = [f"--{boundary}", f"Content-Type: {content_type}"]
    lines += [f"{name}: {value}" for name, value in extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def closing(boundary: str) -> bytes:
    return f"--{boundary}--\r\n".encode("latin-1")


# -- reading -----------------------------------------------------------------------------------
@dataclass
class Part:
    """The headers of one body part, lower-case names."""

    headers: dict[str, str]

    @property
    def content_type(self) -> str:
        return parse_media_type(self.headers.get("content-type", "text/plain"))[0]

    @property
    def params(self) -> dict[str, str]:
        return parse_media_type(self.headers.get("content-type", "text/plain"))[1]


MAX_HEADER_BYTES = 16 * 1024
MAX_PADDING = 1024  # white space allowed between a delimiter and its CRLF


class MultipartParser:
    """A push parser for multipart bodies (RFC 2046 §5.1.1).

    :meth:`feed` takes the next chunk and returns events: ``("part", Part)`` when a part's
    headers are complete, ``("data", bytes)`` for its content (in pieces), ``("end", None)``
    when it is complete. Everything before the first delimiter (the preamble) and after the
    close delimiter (the epilogue) is ignored. At most a delimiter's length is held back.
    """

    def __init__(self, boundary: str) -> None:
        if not boundary or len(boundary) > 200:
            raise WebError(400, "multipart/related: missing or oversized boundary parameter")
        self.delimiter = b"\r\n--" + boundary.encode("latin-1")
        # The first delimiter may open the body without a CRLF before it.
        self.buffer = bytearray(b"\r\n")
        self.state = "preamble"  # preamble, headers, body, done

    def feed(self, chunk: bytes) -> list[tuple[str, object]]:
        self.buffer += chunk
        events: list[tuple[str, object]] = []
        search = 0
        while True:
            if self.state == "done":
                self.buffer.clear()
                return events
            if self.state == "headers":
                if self.buffer.startswith(b"\r\n"):  # a part with no headers
                    del self.buffer[:2]
                    events.append(("part", Part({})))
                    self.state = "body"
                    continue
                # Only the first MAX_HEADER_BYTES may be headers, however the body arrives.
                end = self.buffer.find(b"\r\n\r\n", 0, MAX_HEADER_BYTES + 4)
                if end < 0:
                    if len(self.buffer) >= MAX_HEADER_BYTES + 4:
                        raise WebError(400, "multipart/related: part headers over 16 KiB")
                    return events
                events.append(("part", Part(_headers(bytes(self.buffer[:end])))))
                del self.buffer[: end + 4]
                self.state = "body"
                search = 0
                continue
            at = self.buffer.find(self.delimiter, search)
            if at < 0:
                self._pass(events, len(self.buffer) - len(self.delimiter) + 1)
                return events
            verdict, skip = self._delimiter_at(at)
            if verdict == "content":  # the boundary text, not followed by CRLF or "--"
                search = at + 1
                continue
            if verdict == "undecided":
                self._pass(events, at)
                return events
            self._pass(events, at)
            if self.state == "body":
                events.append(("end", None))
            del self.buffer[:skip]
            self.state = "done" if verdict == "close" else "headers"
            search = 0

    def _delimiter_at(self, at: int) -> tuple[str, int]:
        """RFC 2046 §5.1.1: a delimiter is followed by ``--`` (the close delimiter) or by
        optional white space and CRLF. (verdict, length of the delimiter line from ``at``)."""
        after = at + len(self.delimiter)
        # A bounded look: the padding may be at most MAX_PADDING bytes, and a body full of
        # near-delimiters must not copy the rest of the buffer once for each of them.
        rest = self.buffer[after : after + MAX_PADDING + 3]
        if len(rest) < 2:
            return "undecided", 0
        if rest[:2] == b"--":
            return "close", after + 2 - at
        end = rest.find(b"\r\n")
        # Without its CRLF yet, a last CR may be that CRLF's first half (the body arrived
        # split between them): not content.
        padding = rest[:end] if end >= 0 else rest[:-1] if rest.endswith(b"\r") else rest
        if padding.strip(b" \t"):
            return "content", 0
        if len(padding) > MAX_PADDING:
            raise WebError(400, "multipart/related: endless white space after a delimiter")
        if end < 0:
            return "undecided", 0
        return "delimiter", after + end + 2 - at

    def _pass(self, events: list[tuple[str, object]], upto: int) -> None:
        """Hand over the content before ``upto`` (dropped in the preamble)."""
        if upto <= 0:
            return
        if self.state == "body":
            events.append(("data", bytes(self.buffer[:upto])))
        del self.buffer[:upto]

    def close(self) -> None:
        if self.state != "done":
            raise WebError(400, "multipart/related: the body ends before the close delimiter")


def _headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.decode("latin-1").split("\r\n"):
        name, colon, value = line.partition(":")
        if not colon:
            raise WebError(400, f"multipart/related: bad part header line {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    return headers


async def parts_of(body: AsyncIterator[bytes], boundary: str
                   ) -> AsyncIterator[tuple[str, object]]:
    """The events of :class:`MultipartParser` over a request body."""
    parser = MultipartParser(boundary)
    async for chunk in body:
        for event in parser.feed(chunk):
            yield event
    for event in parser.feed(b""):
        yield event
    parser.close()
