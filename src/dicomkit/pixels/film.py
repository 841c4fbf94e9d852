"""A printed film as a page: film sizes, Image Display Format layouts, densities, and the
page drawn as a PDF (:mod:`dicomkit.pixels.pdf`) and as a PNG.

- :data:`FILM_SIZES`: PS3.3 C.13.8 Film Size ID defined terms, in millimetres (width, height
  of the film held in PORTRAIT).
- :func:`parse_display_format`: PS3.3 C.13.5.1 Image Display Format — STANDARD\\C,R (C
  columns, R rows, boxes numbered left to right then top to bottom), ROW\\R1,R2,… (row i holds
  Ri boxes), COL\\C1,C2,… (column i holds Ci boxes, numbered top to bottom then left to
  right), SLIDE, SUPERSLIDE and CUSTOM\\i (configuration dependent: ``slide``/``superslide``/
  ``custom`` of :class:`DisplayFormat` say what they are here).
- :func:`density_grey`: a density (BLACK, WHITE, or hundredths of optical density, C.13.8)
  as the grey level a paper page shows between the film's Min and Max Density.
- :class:`Film` and :func:`to_pdf` / :func:`to_png`: the page of the film's size and
  orientation, the border density around and between image boxes, empty boxes in the empty
  image density, each image fitted into its box (aspect kept, centred; Requested Image Size
  honoured when smaller than the box), a trim frame when asked, and the annotation boxes as a
  line of text along the bottom (Pillow draws it on the PNG, as pixels/annotate.py does).

Limits (untrusted input): a display format of more than :data:`MAX_BOXES` boxes, or more than
:data:`MAX_PER_LINE` in a row or column, is refused with :class:`DisplayFormatError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dicomkit.pixels.pdf import POINTS_PER_MM, PdfPage
from dicomkit.pixels.render import to_png as png_bytes

Array = np.ndarray[Any, Any]
MM_PER_INCH = 25.4

# PS3.3 C.13.8: Film Size ID defined terms (width x height in mm, PORTRAIT).
FILM_SIZES: dict[str, tuple[float, float]] = {
    "8INX10IN": (8 * MM_PER_INCH, 10 * MM_PER_INCH),
    "8_5INX11IN": (8.5 * MM_PER_INCH, 11 * MM_PER_INCH),
    "10INX12IN": (10 * MM_PER_INCH, 12 * MM_PER_INCH),
    "10INX14IN": (10 * MM_PER_INCH, 14 * MM_PER_INCH),
    "11INX14IN": (11 * MM_PER_INCH, 14 * MM_PER_INCH),
    "11INX17IN": (11 * MM_PER_INCH, 17 * MM_PER_INCH),
    "14INX14IN": (14 * MM_PER_INCH, 14 * MM_PER_INCH),
    "14INX17IN": (14 * MM_PER_INCH, 17 * MM_PER_INCH),
    "24CMX24CM": (240.0, 240.0),
    "24CMX30CM": (240.0, 300.0),
    "A4": (210.0, 297.0),
    "A3": (297.0, 420.0),
}
ORIENTATIONS = ("PORTRAIT", "LANDSCAPE")
MAX_BOXES = 400
MAX_PER_LINE = 32
MARGIN_MM = 4.0  # border density around the boxes
GAP_MM = 3.0  # border density between boxes
ANNOTATION_MM = 9.0  # the band the annotation boxes print in


class DisplayFormatError(ValueError):
    """An Image Display Format (2010,0010) that is not one of C.13.5.1's, or too large."""


@dataclass(frozen=True)
class DisplayFormat:
    """A parsed Image Display Format: ``kind`` and its numbers (STANDARD: columns, rows;
    ROW: boxes per row; COL: boxes per column) after SLIDE/SUPERSLIDE/CUSTOM are resolved."""

    value: str
    kind: str
    counts: tuple[int, ...]

    @property
    def boxes(self) -> int:
        """How many image boxes the film box holds (Image Box Position 1..boxes)."""
        if self.kind == "STANDARD":
            return self.counts[0] * self.counts[1]
        return sum(self.counts)

    def cells(self) -> list[tuple[float, float, float, float]]:
        """Each box in position order as (x, y, width, height) fractions of the image area,
        y measured from the top."""
        out: list[tuple[float, float, float, float]] = []
        if self.kind == "STANDARD":
            columns, rows = self.counts
            for row in range(rows):
                for column in range(columns):
                    out.append((column / columns, row / rows, 1 / columns, 1 / rows))
        elif self.kind == "ROW":
            rows = len(self.counts)
            for row, count in enumerate(self.counts):
                for column in range(count):
                    out.append((column / count, row / rows, 1 / count, 1 / rows))
        else:  # COL
            columns = len(self.counts)
            for column, count in enumerate(self.counts):
                for row in range(count):
                    out.append((column / columns, row / count, 1 / columns, 1 / count))
        return out


# SLIDE (35 mm slides) and SUPERSLIDE (40 mm slides) are configuration dependent (C.13.5.1):
# here a 4 x 5 and a 4 x 4 grid.
SLIDE = "STANDARD\\4,5"
SUPERSLIDE = "STANDARD\\4,4"


def parse_display_format(value: str, custom: dict[str, str] | None = None) -> DisplayFormat:
    """PS3.3 C.13.5.1: ``value`` (e.g. ``STANDARD\\2,2``) as a :class:`DisplayFormat`;
    ``custom`` maps CUSTOM\\i's i to the format it stands for. Raises
    :class:`DisplayFormatError` naming what is wrong."""
    text = str(value or "").strip()
    kind, _, rest = text.partition("\\")
    kind = kind.strip().upper()
    if kind in ("SLIDE", "SUPERSLIDE") and not rest:
        resolved = parse_display_format(SLIDE if kind == "SLIDE" else SUPERSLIDE)
        return DisplayFormat(text, resolved.kind, resolved.counts)
    if kind == "CUSTOM":
        number = rest.strip()
        target = (custom or {}).get(number)
        if target is None or target.upper().startswith("CUSTOM"):
            raise DisplayFormatError(f"Image Display Format {text!r}: CUSTOM\\{number} is not "
                                     "configured on this printer")
        resolved = parse_display_format(target)
        return DisplayFormat(text, resolved.kind, resolved.counts)
    if kind not in ("STANDARD", "ROW", "COL"):
        raise DisplayFormatError(f"Image Display Format {text!r}: not STANDARD, ROW, COL, "
                                 "SLIDE, SUPERSLIDE or CUSTOM (PS3.3 C.13.5.1)")
    try:
        counts = tuple(int(part) for part in rest.split(","))
    except ValueError:
        raise DisplayFormatError(f"Image Display Format {text!r}: {kind} needs numbers after "
                                 "the backslash, separated by commas") from None
    if kind == "STANDARD" and len(counts) != 2:
        raise DisplayFormatError(f"Image Display Format {text!r}: STANDARD is \\columns,rows")
    if not counts or len(counts) > MAX_PER_LINE or any(
            not 1 <= count <= MAX_PER_LINE for count in counts):
        raise DisplayFormatError(f"Image Display Format {text!r}: each number is 1 to "
                                 f"{MAX_PER_LINE}, at most {MAX_PER_LINE} of them")
    parsed = DisplayFormat(text, kind, counts)
    if parsed.boxes > MAX_BOXES:
        raise DisplayFormatError(f"Image Display Format {text!r}: {parsed.boxes} image boxes, "
                                 f"more than {MAX_BOXES}")
    return parsed


def parse_density(value: Any) -> int | str | None:
    """A density as C.13.8 writes it: BLACK, WHITE, or hundredths of OD (an integer); None
    for a value that is neither."""
    text = str(value or "").strip().upper()
    if text in ("BLACK", "WHITE"):
        return text
    try:
        number = int(text)
    except ValueError:
        return None
    return number if number >= 0 else None


def density_grey(value: Any, min_density: int, max_density: int) -> float:
    """The grey level (0 black … 1 white) a density prints as on a page: WHITE and Min Density
    white, BLACK and Max Density black, densities between them linear in density."""
    density = parse_density(value)
    if density == "WHITE" or density is None:
        return 1.0
    if density == "BLACK":
        return 0.0
    assert isinstance(density, int)
    span = max(max_density - min_density, 1)
    return float(min(max(1.0 - (density - min_density) / span, 0.0), 1.0))


@dataclass
class FilmImage:
    """One image box's picture: uint8 grey (rows, cols) or RGB (rows, cols, 3), as it prints
    (polarity applied); ``requested_width_mm``: Requested Image Size (2020,0030);
    ``smooth``: a magnification that interpolates (BILINEAR, CUBIC)."""

    pixels: Array
    requested_width_mm: float | None = None
    smooth: bool = False


@dataclass
class Film:
    """A film box ready to print."""

    display_format: DisplayFormat
    size_id: str = "8INX10IN"
    orientation: str = "PORTRAIT"
    border_grey: float = 0.0
    empty_grey: float = 0.0
    trim: bool = False
    images: dict[int, FilmImage] = field(default_factory=dict)  # Image Box Position: image
    annotations: dict[int, str] = field(default_factory=dict)  # Annotation Position: text
    title: str = ""

    def size_mm(self) -> tuple[float, float]:
        width, height = FILM_SIZES.get(self.size_id, FILM_SIZES["8INX10IN"])
        if self.orientation == "LANDSCAPE":
            return max(width, height), min(width, height)
        return min(width, height), max(width, height)

    def boxes_mm(self) -> list[tuple[float, float, float, float]]:
        """Each image box (x, y from the bottom, width, height) in mm, by position."""
        width, height = self.size_mm()
        bottom = MARGIN_MM + (ANNOTATION_MM if self.annotations else 0.0)
        area_w = width - 2 * MARGIN_MM
        area_h = height - MARGIN_MM - bottom
        out = []
        for fx, fy, fw, fh in self.display_format.cells():
            x = MARGIN_MM + fx * area_w + GAP_MM / 2
            top = height - MARGIN_MM - fy * area_h
            box_h = fh * area_h - GAP_MM
            out.append((x, top - GAP_MM / 2 - box_h, fw * area_w - GAP_MM, box_h))
        return out

    def placements(self) -> list[tuple[int, tuple[float, float, float, float],
                                       tuple[float, float, float, float] | None]]:
        """(position, box, where its image goes or None) for each box, in mm."""
        out = []
        for position, box in enumerate(self.boxes_mm(), 1):
            image = self.images.get(position)
            out.append((position, box, None if image is None else fit(image, box)))
        return out


def fit(image: FilmImage, box: tuple[float, float, float, float]
        ) -> tuple[float, float, float, float]:
    """Where ``image`` prints in ``box``: the largest rectangle of its aspect that fits (no
    larger than the Requested Image Size when one is given), centred."""
    x, y, width, height = box
    rows, cols = image.pixels.shape[:2]
    scale = min(width / cols, height / rows)
    if image.requested_width_mm:
        scale = min(scale, image.requested_width_mm / cols)
    w, h = cols * scale, rows * scale
    return x + (width - w) / 2, y + (height - h) / 2, w, h


def to_pdf(film: Film) -> bytes:
    """The film as a one-page PDF of its size and orientation (images at their own
    resolution)."""
    width, height = film.size_mm()
    page = PdfPage(width * POINTS_PER_MM, height * POINTS_PER_MM)
    k = POINTS_PER_MM
    page.rect(0, 0, page.width, page.height, film.border_grey)
    for position, box, where in film.placements():
        bx, by, bw, bh = box
        page.rect(bx * k, by * k, bw * k, bh * k, film.empty_grey)
        if where is None:
            continue
        x, y, w, h = where
        if film.trim:
            frame = 1.0 - film.border_grey if film.border_grey in (0.0, 1.0) else 1.0
            page.rect((x - 0.5) * k, (y - 0.5) * k, (w + 1) * k, (h + 1) * k, frame)
        page.image(film.images[position].pixels, x * k, y * k, w * k, h * k)
    for _position, text, x, y in annotation_places(film):
        page.text(x * k, y * k, 9, text, 1.0 if film.border_grey < 0.5 else 0.0)
    return page.to_bytes(title=film.title)


def annotation_places(film: Film) -> list[tuple[int, str, float, float]]:
    """(position, text, x, y in mm) of each annotation: the band along the bottom, split
    evenly between the positions used."""
    if not film.annotations:
        return []
    width, _ = film.size_mm()
    slots = max(film.annotations)
    step = (width - 2 * MARGIN_MM) / slots
    return [(position, text, MARGIN_MM + (position - 1) * step + 1.0, MARGIN_MM + 2.5)
            for position, text in sorted(film.annotations.items()) if text]


def to_raster(film: Film, dpi: float = 100.0) -> Array:
    """The film drawn at ``dpi`` as uint8 grey, or RGB when an image is in colour (images
    scaled by nearest neighbour, annotations in Pillow's built-in font)."""
    width, height = film.size_mm()
    px = dpi / MM_PER_INCH
    cols, rows = max(1, round(width * px)), max(1, round(height * px))
    colour = any(image.pixels.ndim == 3 for image in film.images.values())
    shape: tuple[int, ...] = (rows, cols, 3) if colour else (rows, cols)
    page = np.full(shape, round(film.border_grey * 255), dtype=np.uint8)

    def span(x: float, y: float, w: float, h: float) -> tuple[slice, slice]:
        top = rows - round((y + h) * px)
        return (slice(max(top, 0), max(rows - round(y * px), 0)),
                slice(max(round(x * px), 0), max(round((x + w) * px), 0)))

    for position, box, where in film.placements():
        page[span(*box)] = round(film.empty_grey * 255)
        if where is None:
            continue
        ys, xs = span(*where)
        out_h, out_w = ys.stop - ys.start, xs.stop - xs.start
        if out_h <= 0 or out_w <= 0:
            continue
        image = film.images[position].pixels
        src_rows = (np.arange(out_h) * image.shape[0] // out_h).clip(0, image.shape[0] - 1)
        src_cols = (np.arange(out_w) * image.shape[1] // out_w).clip(0, image.shape[1] - 1)
        scaled = image[src_rows][:, src_cols]
        if colour and scaled.ndim == 2:
            scaled = np.repeat(scaled[:, :, None], 3, axis=2)
        page[ys, xs] = scaled
    places = annotation_places(film)
    if places:
        page = draw_annotations(page, film, places, px)
    return page


def draw_annotations(page: Array, film: Film, places: list[tuple[int, str, float, float]],
                     px: float) -> Array:
    """The annotation texts onto the raster (Pillow's built-in font, as
    :mod:`dicomkit.pixels.annotate` draws text; imported only here)."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.fromarray(page)
    draw = ImageDraw.Draw(image)
    size = max(8, round(3.2 * px))  # about 9 pt, the PDF's size
    try:
        font: Any = ImageFont.load_default(size)
    except TypeError:  # Pillow before 10.1 has one bitmap size
        font = ImageFont.load_default()
    ink = 255 if film.border_grey < 0.5 else 0
    fill: Any = (ink, ink, ink) if page.ndim == 3 else ink
    rows = page.shape[0]
    for _position, text, x, y in places:
        draw.text((x * px, rows - y * px), text, fill=fill, font=font, anchor="ls")
    return np.asarray(image)


def to_png(film: Film, dpi: float = 100.0) -> bytes:
    """The film drawn at ``dpi`` (:func:`to_raster`) as PNG."""
    return png_bytes(to_raster(film, dpi))
