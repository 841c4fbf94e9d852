"""Fuzz target: a STOW-RS request body, multipart/related (RFC 2387, RFC 2046 §5.1.1; PS3.18
§8.7.1), the way ``dicomkit.web.stow.store`` reads it.

The input's first line is the request's Content-Type header, the rest its body. The header is
parsed for the boundary (and also as an Accept header); the body is fed to
``MultipartParser`` in one piece and again in pieces of 1 to 144 bytes, and both runs must give the same
parts and contents, or both refuse it: how the body is split into network reads must not change
what it means.
Documented errors: :class:`dicomkit.web.errors.WebError` (a 4xx answer), nothing else.
"""

from __future__ import annotations

from typing import Any

from dicomkit.web.errors import WebError
from dicomkit.web.media import MultipartParser, Part, parse_accept, parse_media_type

#: read sizes of the chunked run, in turn: splits everywhere, small and large
SIZES = (1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144)


def pieces_of(body: bytes) -> list[bytes]:
    pieces, at, turn = [], 0, len(body)
    while at < len(body):
        size = SIZES[turn % len(SIZES)]
        pieces.append(body[at : at + size])
        at, turn = at + size, turn + 1
    return pieces


def parse(boundary: str, body: bytes, whole: bool) -> list[tuple[str, Any]]:
    """The events of one run, data events merged, part headers read as stow.store does."""
    parser = MultipartParser(boundary)
    events: list[tuple[str, Any]] = []
    pieces = ([body] if whole else pieces_of(body)) + [b""]
    for piece in pieces:
        for event, value in parser.feed(piece):
            if event == "data" and events and events[-1][0] == "data":
                events[-1] = ("data", events[-1][1] + value)
            elif event == "part":
                assert isinstance(value, Part)
                events.append((event, (value.headers, value.content_type, value.params)))
            else:
                events.append((event, value))
    parser.close()
    return events


def outcome(boundary: str, body: bytes, whole: bool) -> list[tuple[str, Any]] | WebError:
    try:
        return parse(boundary, body, whole)
    except WebError as exc:
        return exc


def TestOneInput(data: bytes) -> None:
    header, _, body = data.partition(b"\n")
    content_type = header.decode("latin-1")
    try:
        parse_accept(content_type)
    except WebError:
        pass
    _kind, params = parse_media_type(content_type)
    boundary = params.get("boundary", "")
    whole = outcome(boundary, body, True)
    chunked = outcome(boundary, body, False)
    if isinstance(whole, WebError) and isinstance(chunked, WebError):
        return
    assert whole == chunked, (whole, chunked)
