"""A printed film as a page: PS3.3 C.13.5.1 Image Display Formats, C.13.8 film sizes and
densities, the PDF and the raster."""

from __future__ import annotations

import re
import zlib

import numpy as np
import pytest

from dicomkit.pixels.film import (
    FILM_SIZES,
    MAX_BOXES,
    DisplayFormatError,
    Film,
    FilmImage,
    density_grey,
    parse_display_format,
    to_pdf,
    to_raster,
)
from dicomkit.pixels.pdf import PdfPage


def test_standard_numbers_boxes_left_to_right_then_top_to_bottom() -> None:
    fmt = parse_display_format("STANDARD\\3,2")
    assert fmt.boxes == 6
    cells = fmt.cells()
    assert cells[0][:2] == (0.0, 0.0)
    assert cells[1][:2] == pytest.approx((1 / 3, 0.0))
    assert cells[3][:2] == pytest.approx((0.0, 0.5))


def test_row_gives_each_row_its_own_count() -> None:
    fmt = parse_display_format("ROW\\1,3")
    assert fmt.boxes == 4
    cells = fmt.cells()
    assert cells[0] == pytest.approx((0.0, 0.0, 1.0, 0.5))
    assert cells[1] == pytest.approx((0.0, 0.5, 1 / 3, 0.5))


def test_col_numbers_top_to_bottom_within_a_column() -> None:
    fmt = parse_display_format("COL\\2,1")
    cells = fmt.cells()
    assert cells[0] == pytest.approx((0.0, 0.0, 0.5, 0.5))
    assert cells[1] == pytest.approx((0.0, 0.5, 0.5, 0.5))
    assert cells[2] == pytest.approx((0.5, 0.0, 0.5, 1.0))


def test_slide_superslide_and_custom_resolve_to_configured_layouts() -> None:
    assert parse_display_format("SLIDE").boxes == 20
    assert parse_display_format("SUPERSLIDE").boxes == 16
    assert parse_display_format("CUSTOM\\7", {"7": "ROW\\2,1"}).boxes == 3
    with pytest.raises(DisplayFormatError, match="CUSTOM"):
        parse_display_format("CUSTOM\\8", {"7": "ROW\\2,1"})


@pytest.mark.parametrize("value", ["", "GRID\\2,2", "STANDARD\\2", "STANDARD\\2,x",
                                   "STANDARD\\0,2", "ROW\\", "STANDARD\\33,1",
                                   "STANDARD\\30,30"])
def test_a_bad_display_format_is_refused_with_its_value(value: str) -> None:
    with pytest.raises(DisplayFormatError, match="Image Display Format"):
        parse_display_format(value)
    assert MAX_BOXES < 30 * 30


def test_densities_print_between_min_and_max() -> None:
    assert density_grey("BLACK", 20, 320) == 0.0
    assert density_grey("WHITE", 20, 320) == 1.0
    assert density_grey("20", 20, 320) == 1.0
    assert density_grey("320", 20, 320) == 0.0
    assert density_grey("170", 20, 320) == pytest.approx(0.5)


def test_film_sizes_and_orientation() -> None:
    film = Film(parse_display_format("STANDARD\\1,1"), "14INX17IN", "LANDSCAPE")
    assert film.size_mm() == pytest.approx((431.8, 355.6))
    assert FILM_SIZES["A4"] == (210.0, 297.0)


def test_images_keep_their_aspect_in_their_box() -> None:
    film = Film(parse_display_format("STANDARD\\2,1"), "8INX10IN")
    film.images[2] = FilmImage(np.zeros((50, 100), np.uint8))
    (_, box, where_1), (_, box2, where_2) = film.placements()
    assert where_1 is None
    assert where_2 is not None
    x, y, w, h = where_2
    assert w / h == pytest.approx(2.0)
    assert w == pytest.approx(box2[2])


def test_raster_draws_border_empty_boxes_and_images() -> None:
    film = Film(parse_display_format("STANDARD\\2,1"), "8INX10IN", border_grey=0.0,
                empty_grey=1.0)
    film.images[1] = FilmImage(np.full((10, 10), 128, np.uint8))
    page = to_raster(film, 10)
    assert page.shape == (100, 80)
    assert page[0, 0] == 0  # border
    assert 128 in page  # the image
    assert 255 in page  # the empty box 2


def test_pdf_has_the_page_size_and_one_image_per_filled_box() -> None:
    film = Film(parse_display_format("STANDARD\\2,2"), "8INX10IN",
                annotations={1: "Left (kidney) \\ é"})
    for position in (1, 2, 3):
        film.images[position] = FilmImage(np.full((4, 6), position * 50, np.uint8))
    pdf = to_pdf(film)
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
    assert b"/MediaBox [0 0 576 720]" in pdf
    assert pdf.count(b"/Subtype /Image") == 3
    header = pdf.index(b"/Subtype /Image")
    length = int(re.search(rb"/Length (\d+)", pdf[header:]).group(1))  # type: ignore[union-attr]
    start = pdf.index(b"stream\n", header) + 7
    assert zlib.decompress(pdf[start:start + length]) == bytes([50] * 24)
    # the cross-reference table points at each object
    xref = int(re.search(rb"startxref\n(\d+)", pdf).group(1))  # type: ignore[union-attr]
    for offset in re.findall(rb"(\d{10}) 00000 n", pdf[xref:]):
        assert re.match(rb"\d+ 0 obj", pdf[int(offset):])


def test_pdf_text_is_escaped() -> None:
    page = PdfPage(100, 100)
    page.text(1, 1, 9, "a(b)c\\d")
    assert "(a\\(b\\)c\\\\d) Tj" in page.operations[0]


def test_pdf_refuses_what_is_not_an_8_bit_image() -> None:
    with pytest.raises(ValueError, match="uint8"):
        PdfPage(10, 10).image(np.zeros((2, 2), np.uint16), 0, 0, 1, 1)
