"""A one-page PDF (ISO 32000-1) of filled rectangles, 8-bit images and Helvetica text: what a
printed film needs, written with zlib and string formatting.

Why by hand rather than a PDF library: a film page uses four drawing operators (``re``/``f``
for rectangles, ``cm``/``Do`` for images, ``BT``/``Tf``/``Td``/``Tj`` for one line of text),
one standard font that needs no embedding, and image XObjects whose samples are the rendered
8-bit array deflated as it is (/FlateDecode, PS3.4 H's film images kept at their own
resolution, the viewer scales them). That is ~150 lines with no dependency and output that
does not change with a library's version; fpdf2 or reportlab would bring fonttools/Pillow
image paths and much more surface for this one page. docs/dependencies.md says the same.

Coordinates are PDF points (1/72 inch) from the bottom-left corner, as in the format itself.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]
POINTS_PER_MM = 72.0 / 25.4


@dataclass
class PdfImage:
    """An image XObject: uint8 (rows, cols) grey or (rows, cols, 3) RGB, placed in the
    rectangle x, y, width, height (points)."""

    pixels: Array
    x: float
    y: float
    width: float
    height: float


@dataclass
class PdfPage:
    """One page of ``width`` x ``height`` points: what is drawn, in order."""

    width: float
    height: float
    operations: list[str] = field(default_factory=list)
    images: list[PdfImage] = field(default_factory=list)

    def rect(self, x: float, y: float, width: float, height: float, grey: float) -> None:
        """A filled rectangle of grey level ``grey`` (0 black … 1 white)."""
        self.operations.append(f"{_n(grey)} g {_n(x)} {_n(y)} {_n(width)} {_n(height)} re f")

    def image(self, pixels: Array, x: float, y: float, width: float, height: float) -> None:
        """``pixels`` (uint8 grey or RGB) drawn into the rectangle."""
        arr = np.ascontiguousarray(pixels)
        if arr.dtype != np.uint8 or arr.ndim not in (2, 3) or \
                (arr.ndim == 3 and arr.shape[2] != 3) or 0 in arr.shape:
            raise ValueError(f"a PDF image is uint8 (rows, cols) or (rows, cols, 3); got "
                             f"{arr.dtype} {arr.shape}")
        self.operations.append(f"q {_n(width)} 0 0 {_n(height)} {_n(x)} {_n(y)} cm "
                               f"/Im{len(self.images)} Do Q")
        self.images.append(PdfImage(arr, x, y, width, height))

    def text(self, x: float, y: float, size: float, value: str, grey: float = 0.0) -> None:
        """One line of Helvetica (WinAnsi; characters outside Latin-1 shown as "?")."""
        self.operations.append(f"{_n(grey)} g BT /F1 {_n(size)} Tf {_n(x)} {_n(y)} Td "
                               f"({_escape(value)}) Tj ET")

    def to_bytes(self, *, title: str = "", creator: str = "dicomkit") -> bytes:
        """The whole PDF file."""
        return write_pdf(self, title=title, creator=creator)


def _n(value: float) -> str:
    """A PDF real: at most 3 decimals, no exponent, no trailing zeros."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _escape(value: str) -> str:
    """A PDF literal string body (§7.3.4.2) in Latin-1 (WinAnsi for the printable range)."""
    raw = value.encode("latin-1", "replace").decode("latin-1")
    out = []
    for char in raw:
        if char in "()\\":
            out.append("\\" + char)
        elif ord(char) < 32 or ord(char) == 127:
            out.append(" ")
        else:
            out.append(char)
    return "".join(out)


def write_pdf(page: PdfPage, *, title: str = "", creator: str = "dicomkit") -> bytes:
    """``page`` as a PDF 1.4 file: catalog, pages, page, content stream, font, one XObject
    per image, info dictionary, cross-reference table (§7.5)."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # 1, filled in below
    pages = add(b"")  # 2
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
               b"/Encoding /WinAnsiEncoding >>")
    image_refs = []
    for image in page.images:
        rows, cols = image.pixels.shape[:2]
        space = "/DeviceRGB" if image.pixels.ndim == 3 else "/DeviceGray"
        data = zlib.compress(image.pixels.tobytes(), 6)
        header = (f"<< /Type /XObject /Subtype /Image /Width {cols} /Height {rows} "
                  f"/ColorSpace {space} /BitsPerComponent 8 /Filter /FlateDecode "
                  f"/Length {len(data)} >>\nstream\n").encode()
        image_refs.append(add(header + data + b"\nendstream"))
    content = zlib.compress("\n".join(page.operations).encode("latin-1"), 6)
    contents = add(f"<< /Length {len(content)} /Filter /FlateDecode >>\nstream\n".encode()
                   + content + b"\nendstream")
    xobjects = " ".join(f"/Im{i} {ref} 0 R" for i, ref in enumerate(image_refs))
    page_obj = add((f"<< /Type /Page /Parent {pages} 0 R /MediaBox [0 0 {_n(page.width)} "
                    f"{_n(page.height)}] /Contents {contents} 0 R /Resources << /Font << /F1 "
                    f"{font} 0 R >> /XObject << {xobjects} >> >> >>").encode())
    objects[catalog - 1] = f"<< /Type /Catalog /Pages {pages} 0 R >>".encode()
    objects[pages - 1] = f"<< /Type /Pages /Kids [{page_obj} 0 R] /Count 1 >>".encode()
    info = add(f"<< /Title ({_escape(title)}) /Creator ({_escape(creator)}) "
               f"/Producer (dicomkit) >>".encode("latin-1"))
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root {catalog} 0 R /Info {info} 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)
