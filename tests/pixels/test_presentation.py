"""Grayscale Softcopy Presentation State applied by the renderer (PS3.4 N.2; PS3.3 C.10, C.11).

Against DCMTK: ``dcmpsmk`` makes the presentation state for CT_small, the test sets the VOI,
Presentation LUT shape, rotation and flip, and ``dcmp2pgm`` renders it; ours must agree within
one grey level (rounding of the VOI output: the same tolerance as the plain renderer's tests).
``dcmp2pgm`` writes the whole image and does not burn in shutters, the displayed area or
annotations, so those are checked on synthetic images whose answer is known.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dicomkit
from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import generate_uid, registered
from dicomkit.pixels.presentation import (
    PresentationError,
    PresentationState,
    render_with_presentation,
)
from tests.support.datasets import pydicom_file
from tests.support.images import grayscale
from tests.support.pixels import assert_within_one_level, codec_tool, run_tool

GSPS = "GrayscaleSoftcopyPresentationStateStorage"


def _pgm(path: Path) -> np.ndarray:
    data = path.read_bytes()
    magic, width, height, top, pixels = data.split(maxsplit=4)
    assert magic == b"P5" and int(top) < 256
    return np.frombuffer(pixels[:int(width) * int(height)], np.uint8).reshape(
        int(height), int(width))


@pytest.fixture(scope="module")
def made_by_dcmpsmk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("gsps")
    pr = folder / "pr.dcm"
    run_tool("dcmpsmk", pydicom_file("CT_small.dcm"), pr)
    return pr


def _window(center: float, width: float) -> Dataset:
    item = Dataset()
    item.WindowCenter, item.WindowWidth = center, width
    return item


CASES: dict[str, dict[str, Any]] = {
    "no VOI (identity)": {},
    "window": {"SoftcopyVOILUTSequence": [_window(40, 400)]},
    "inverse": {"SoftcopyVOILUTSequence": [_window(40, 400)], "PresentationLUTShape": "INVERSE"},
    "flip": {"SoftcopyVOILUTSequence": [_window(300, 1500)], "ImageRotation": 0,
             "ImageHorizontalFlip": "Y"},
    **{f"rotation {r}{' flip' if f == 'Y' else ''}": {
        "SoftcopyVOILUTSequence": [_window(40, 400)], "ImageRotation": r,
        "ImageHorizontalFlip": f} for r in (90, 180, 270) for f in "NY"},
}


@pytest.mark.parametrize("case", CASES)
def test_rendering_agrees_with_dcmp2pgm(case: str, made_by_dcmpsmk: Path,
                                        tmp_path: Path) -> None:
    pr = dicomkit.read(made_by_dcmpsmk)
    for keyword, value in CASES[case].items():
        setattr(pr, keyword, value)
    path = tmp_path / "pr.dcm"
    dicomkit.write(pr, path)
    image = pydicom_file("CT_small.dcm")
    subprocess.run([codec_tool("dcmp2pgm"), "-p", str(path), str(image),
                    str(tmp_path / "out.pgm")], check=True, capture_output=True)
    theirs = _pgm(tmp_path / "out.pgm")
    ours = render_with_presentation(dicomkit.read(image),
                                    PresentationState.from_dataset(dicomkit.read(path)))
    assert_within_one_level(ours, theirs)


# -- synthetic cases ------------------------------------------------------------------------------
def _image(rows: int = 6, cols: int = 8) -> Dataset:
    """Stored value = 10 * row + column (from 0), 16-bit, MONOCHROME2."""
    values = (10 * np.arange(rows)[:, None] + np.arange(cols)[None, :]).astype(np.uint16)
    ds = grayscale(values, bits_stored=12)
    ds.SOPInstanceUID = generate_uid()
    return ds


def _state(image: Dataset, **attributes: Any) -> PresentationState:
    pr = Dataset()
    pr.SOPClassUID = registered(GSPS)
    pr.SOPInstanceUID = generate_uid()
    ref = Dataset()
    ref.ReferencedSOPClassUID = image.SOPClassUID
    ref.ReferencedSOPInstanceUID = image.SOPInstanceUID
    series = Dataset()
    series.SeriesInstanceUID = generate_uid()
    series.ReferencedImageSequence = [ref]
    pr.ReferencedSeriesSequence = [series]
    # a window that maps stored value v to v exactly: centre 127.5 + 0.5, width 256
    pr.SoftcopyVOILUTSequence = [_window(128, 256)]
    pr.PresentationLUTShape = "IDENTITY"
    for keyword, value in attributes.items():
        setattr(pr, keyword, value)
    return PresentationState.from_dataset(pr)


def _plain(image: Dataset) -> np.ndarray:
    return render_with_presentation(image, _state(image))


def _area(tl: list[int], br: list[int], **extra: Any) -> list[Dataset]:
    item = Dataset()
    item.DisplayedAreaTopLeftHandCorner = tl
    item.DisplayedAreaBottomRightHandCorner = br
    item.PresentationSizeMode = extra.pop("mode", "SCALE TO FIT")
    for keyword, value in extra.items():
        setattr(item, keyword, value)
    return [item]


def test_the_window_maps_as_set() -> None:
    image = _image()
    plain = _plain(image)
    assert plain[2, 3] == 23 and plain[5, 7] == 57


def test_displayed_area_crops_in_image_coordinates_and_pads_black() -> None:
    image = _image()
    shown = render_with_presentation(image, _state(
        image, DisplayedAreaSelectionSequence=_area([2, 3], [4, 5])))
    assert shown.tolist() == _plain(image)[2:5, 1:4].tolist()
    padded = render_with_presentation(image, _state(
        image, DisplayedAreaSelectionSequence=_area([0, 0], [9, 7])))
    assert padded.shape == (8, 10)
    assert padded[0].tolist() == [0] * 10 and padded[:, 0].tolist() == [0] * 8
    assert padded[1:7, 1:9].tolist() == _plain(image).tolist()


def test_displayed_area_then_rotation() -> None:
    image = _image()
    shown = render_with_presentation(image, _state(
        image, ImageRotation=90, ImageHorizontalFlip="N",
        DisplayedAreaSelectionSequence=_area([2, 3], [4, 5])))
    assert shown.tolist() == np.rot90(_plain(image)[2:5, 1:4], -1).tolist()


def test_magnify_and_scale_to_fit() -> None:
    image = _image()
    twice = render_with_presentation(image, _state(image, DisplayedAreaSelectionSequence=_area(
        [1, 1], [8, 6], mode="MAGNIFY", PresentationPixelMagnificationRatio=2.0)))
    assert twice.shape == (12, 16)
    assert twice.tolist() == np.repeat(np.repeat(_plain(image), 2, 0), 2, 1).tolist()
    fitted = render_with_presentation(image, _state(
        image, DisplayedAreaSelectionSequence=_area([1, 1], [8, 6])), size=(32, 100))
    assert fitted.shape == (24, 32)


def test_non_square_presentation_pixels_stretch_the_rows() -> None:
    image = _image()
    shown = render_with_presentation(image, _state(image, DisplayedAreaSelectionSequence=_area(
        [1, 1], [8, 6], PresentationPixelSpacing=[1.0, 0.5])))
    assert shown.shape == (12, 8)


def test_rectangular_circular_and_polygonal_shutters() -> None:
    image = _image(20, 20)
    rect = render_with_presentation(image, _state(
        image, ShutterShape="RECTANGULAR", ShutterLeftVerticalEdge=3,
        ShutterRightVerticalEdge=10, ShutterUpperHorizontalEdge=4,
        ShutterLowerHorizontalEdge=12, ShutterPresentationValue=65535))
    plain = _plain(image)
    assert (rect[3:12, 2:10] == plain[3:12, 2:10]).all()
    assert (rect[:3] == 255).all() and (rect[:, 10:] == 255).all()
    circle = render_with_presentation(image, _state(
        image, ShutterShape="CIRCULAR", CenterOfCircularShutter=[10, 10],
        RadiusOfCircularShutter=4, ShutterPresentationValue=0))
    assert circle[9, 9] == plain[9, 9] and circle[0, 0] == 0 and circle[9, 14] == 0
    polygon = render_with_presentation(image, _state(
        image, ShutterShape="POLYGONAL",
        VerticesOfThePolygonalShutter=[1, 1, 1, 20, 20, 1], ShutterPresentationValue=32768))
    assert polygon[1, 1] == plain[1, 1]  # upper left triangle kept
    assert polygon[18, 18] == 128


def _layer(name: str, order: int, grey: int | None = None,
           lab: list[int] | None = None) -> Dataset:
    layer = Dataset()
    layer.GraphicLayer, layer.GraphicLayerOrder = name, order
    if grey is not None:
        layer.GraphicLayerRecommendedDisplayGrayscaleValue = grey
    if lab is not None:
        layer.GraphicLayerRecommendedDisplayCIELabValue = lab
    return layer


def _graphic(kind: str, points: list[float], units: str = "PIXEL",
             filled: str = "N") -> Dataset:
    graphic = Dataset()
    graphic.GraphicAnnotationUnits = units
    graphic.GraphicDimensions = 2
    graphic.NumberOfGraphicPoints = len(points) // 2
    graphic.GraphicData = points
    graphic.GraphicType = kind
    graphic.GraphicFilled = filled
    return graphic


def _annotation(layer: str, graphics: list[Dataset] = (), texts: list[Dataset] = ()
                ) -> Dataset:  # type: ignore[assignment]
    item = Dataset()
    item.GraphicLayer = layer
    if graphics:
        item.GraphicObjectSequence = list(graphics)
    if texts:
        item.TextObjectSequence = list(texts)
    return item


def _black(rows: int = 32, cols: int = 32) -> Dataset:
    image = grayscale(np.zeros((rows, cols), np.uint16), bits_stored=12)
    image.SOPInstanceUID = generate_uid()
    return image


def test_a_polyline_in_pixel_units_follows_the_rotation() -> None:
    image = _black()
    line = _graphic("POLYLINE", [2.5, 5.5, 20.5, 5.5])  # row 5, columns 2..20
    state = _state(image, GraphicLayerSequence=[_layer("L", 1, grey=65535)],
                   GraphicAnnotationSequence=[_annotation("L", [line])])
    upright = render_with_presentation(image, state)
    assert (upright[5, 2:21] == 255).all() and upright.sum() == 255 * 19
    rotated = render_with_presentation(image, _state(
        image, ImageRotation=90, ImageHorizontalFlip="N",
        GraphicLayerSequence=[_layer("L", 1, grey=65535)],
        GraphicAnnotationSequence=[_annotation("L", [line])]))
    assert rotated.tolist() == np.rot90(upright, -1).tolist()


def test_filled_circle_ellipse_and_display_units() -> None:
    image = _black()
    circle = _graphic("CIRCLE", [16, 16, 16, 24], filled="Y")
    shown = render_with_presentation(image, _state(
        image, GraphicLayerSequence=[_layer("L", 1, grey=32768)],
        GraphicAnnotationSequence=[_annotation("L", [circle])]))
    assert shown[16, 16] == 128 and shown[16, 22] == 128 and shown[1, 1] == 0
    ellipse = _graphic("ELLIPSE", [4, 16, 28, 16, 16, 12, 16, 20])
    shown = render_with_presentation(image, _state(
        image, GraphicLayerSequence=[_layer("L", 1)],
        GraphicAnnotationSequence=[_annotation("L", [ellipse])]))
    assert shown[16, 16] == 0 and shown[16, 4] == 255 and shown[12, 16] == 255
    display = _graphic("POLYLINE", [0.0, 0.5, 1.0, 0.5], units="DISPLAY")
    shown = render_with_presentation(image, _state(
        image, GraphicLayerSequence=[_layer("L", 1)],
        GraphicAnnotationSequence=[_annotation("L", [display])]))
    assert (shown[16] == 255).all()


def test_layers_are_drawn_in_order_and_colour_makes_rgb() -> None:
    image = _black()
    square = _graphic("POLYLINE", [4, 4, 12, 4, 12, 12, 4, 12, 4, 4], filled="Y")
    red = [int(53.24 / 100 * 65535), int((80.09 + 128) / 255 * 65535),
           int((67.2 + 128) / 255 * 65535)]
    shown = render_with_presentation(image, _state(
        image, GraphicLayerSequence=[_layer("TOP", 2, lab=red), _layer("BOTTOM", 1, grey=0)],
        GraphicAnnotationSequence=[_annotation("TOP", [square]),
                                   _annotation("BOTTOM", [square])]))
    assert shown.shape == (32, 32, 3)
    r, g, b = (int(v) for v in shown[8, 8])
    assert r > 200 and g < 80 and b < 80  # the higher layer is drawn last: red, not black


def test_text_is_drawn_in_its_bounding_box() -> None:
    image = _black(40, 120)
    text = Dataset()
    text.UnformattedTextValue = "LESION 1"
    text.BoundingBoxAnnotationUnits = "PIXEL"
    text.BoundingBoxTopLeftHandCorner = [10.0, 10.0]
    text.BoundingBoxBottomRightHandCorner = [110.0, 30.0]
    text.BoundingBoxTextHorizontalJustification = "LEFT"
    shown = render_with_presentation(image, _state(
        image, GraphicLayerSequence=[_layer("T", 1)],
        GraphicAnnotationSequence=[_annotation("T", texts=[text])]))
    ink = np.argwhere(shown > 0)
    assert len(ink) > 20
    assert ink[:, 0].min() >= 10 and ink[:, 1].min() >= 10 and ink[:, 1].max() < 110


def test_voi_applies_only_to_the_images_it_references() -> None:
    image, other = _image(), _image()
    item = _window(1000, 10)
    ref = Dataset()
    ref.ReferencedSOPClassUID = other.SOPClassUID
    ref.ReferencedSOPInstanceUID = other.SOPInstanceUID
    item.ReferencedImageSequence = [ref]
    state = _state(image, SoftcopyVOILUTSequence=[item])
    state.images = ()  # apply it to any image, to see which VOI item is picked
    # the unreferenced image: no VOI, the identity over the 12-bit range (57 -> 3.55 -> 4)
    assert render_with_presentation(image, state).max() == 4
    assert render_with_presentation(other, state).max() == 0  # far below its window


@pytest.mark.parametrize(("attributes", "message"), [
    ({"ImageRotation": 45}, "Image Rotation 45"),
    ({"GraphicAnnotationSequence": [_annotation("L", [_graphic("SPIRAL", [1, 1])])]},
     "Graphic Type 'SPIRAL'"),
    ({"GraphicAnnotationSequence": [_annotation("L", [_graphic("CIRCLE", [1, 1, 2])])]},
     "odd number"),
    ({"GraphicAnnotationSequence": [_annotation("L", [_graphic("POINT", [1, 1], "MM")])]},
     "not PIXEL or DISPLAY"),
    ({"ShutterShape": "POLYGONAL", "VerticesOfThePolygonalShutter": [1, 1, 2, 2]},
     "at least 3"),
    ({"DisplayedAreaSelectionSequence": _area([1, 1], [8, 6], mode="MAGNIFY",
                                              PresentationPixelMagnificationRatio=1e9)},
     "magnification"),
])
def test_malformed_presentation_states_are_refused(attributes: dict[str, Any],
                                                   message: str) -> None:
    with pytest.raises(PresentationError, match=message):
        _state(_image(), **attributes)


def test_an_image_the_state_does_not_reference_is_refused() -> None:
    state = _state(_image())
    with pytest.raises(PresentationError, match="does not reference the image"):
        render_with_presentation(_image(), state)
