"""Grayscale Softcopy Presentation State (PS3.3 A.33.1, C.10, C.11; PS3.4 N.2) read and applied.

:class:`PresentationState` is what a GSPS says about how to show the images it references,
parsed once from the PR data set: the Modality LUT (C.11.1), the Softcopy VOI LUT (C.11.8), the
Presentation LUT (C.11.6), the shutters (C.7.6.11), the spatial transformation (C.10.6), the
displayed area (C.10.4), the graphic layers (C.10.7) and the graphic and text annotations
(C.10.5). :func:`render_with_presentation` runs the PS3.4 N.2 grayscale pipeline with them:

stored values → Modality LUT (the PR's; identity when the PR has none) → Softcopy VOI LUT
(the item that references this image and frame; none: the whole range of modality values,
linearly) → Presentation LUT (shape IDENTITY/INVERSE or table) → shutters (pixels outside every
shutter take the Shutter Presentation Value) → displayed area (the rectangle between the two
corners, given in the pixel coordinates of the image before the spatial transformation; outside
the image is black) → rotation, then horizontal flip (C.10.6) → size (SCALE TO FIT and TRUE
SIZE: one image pixel per output pixel, or the ``size`` asked for; MAGNIFY: the Presentation
Pixel Magnification Ratio; non-square Presentation Pixel Spacing/Aspect Ratio stretches the
rows) → annotations, layer by layer in Graphic Layer Order (:mod:`dicomkit.pixels.annotate`).

PIXEL-unit annotations are mapped through the same displayed area, rotation, flip and scaling
as the pixels, and drawn after them, so that text stays upright (C.10.5.1.1 leaves the drawing
of text to the application).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from dicomkit.core.dataset import Dataset
from dicomkit.errors import InvalidDicomError
from dicomkit.pixels import lut

if TYPE_CHECKING:
    from dicomkit.pixels.annotate import Mapping

Array = np.ndarray[Any, Any]
Point = tuple[float, float]
References = tuple[tuple[str, frozenset[int] | None], ...] | None
"""(SOP Instance UID, frame numbers from 1 or None for all) the item applies to; None: all."""

MAX_POINTS = 1 << 20
"""Graphic points read from one object at most (the PR is untrusted input)."""


class PresentationError(InvalidDicomError):
    """A presentation state that cannot be applied (it names the attribute and the item)."""


@dataclass(frozen=True)
class VOI:
    """One item of the Softcopy VOI LUT Sequence (C.11.8): a window or a VOI LUT."""

    references: References
    window: tuple[float, float, str] | None = None
    table: Dataset | None = None


@dataclass(frozen=True)
class DisplayedArea:
    """One item of the Displayed Area Selection Sequence (C.10.4)."""

    references: References
    top_left: tuple[int, int]
    bottom_right: tuple[int, int]
    size_mode: str = "SCALE TO FIT"
    magnification: float = 1.0
    aspect: float = 1.0
    """Rows stretch: the vertical pixel spacing over the horizontal one."""


@dataclass(frozen=True)
class Shutter:
    """Display Shutter module (C.7.6.11.1): the shapes together, and the value outside them."""

    shapes: tuple[str, ...]
    rectangle: tuple[int, int, int, int] | None = None
    """left, right, upper, lower edges (columns, rows; from 1; inclusive)."""
    circle: tuple[float, float, float] | None = None
    """centre row, centre column, radius."""
    polygon: tuple[Point, ...] | None = None
    """vertices as (row, column)."""
    value: int = 0
    """Shutter Presentation Value, a P-value 0..65535."""


@dataclass(frozen=True)
class GraphicObject:
    """An item of the Graphic Object Sequence (C.10.5.1.2)."""

    units: str
    kind: str
    points: tuple[Point, ...]
    """(column, row) in PIXEL units; (x, y) fractions of the displayed area in DISPLAY units."""
    filled: bool = False


@dataclass(frozen=True)
class TextObject:
    """An item of the Text Object Sequence (C.10.5.1.1)."""

    text: str
    box_units: str | None = None
    box: tuple[Point, Point] | None = None
    justification: str = "LEFT"
    anchor_units: str | None = None
    anchor: Point | None = None
    anchor_visible: bool = False


@dataclass(frozen=True)
class GraphicLayer:
    """An item of the Graphic Layer Sequence (C.10.7): order and recommended display values."""

    name: str
    order: int
    grayscale: int | None = None
    """P-value 0..65535."""
    cielab: tuple[int, int, int] | None = None
    """PCS-Values L*a*b* encoded 0..65535 (C.10.7.1.1)."""


@dataclass(frozen=True)
class Annotation:
    """An item of the Graphic Annotation Sequence (C.10.5)."""

    layer: str
    references: References
    graphics: tuple[GraphicObject, ...] = ()
    texts: tuple[TextObject, ...] = ()


@dataclass
class PresentationState:
    """A Grayscale Softcopy Presentation State, parsed (see the module docstring)."""

    sop_instance_uid: str = ""
    images: tuple[str, ...] = ()
    """SOP Instance UIDs of the images it references (Presentation State Relationship)."""
    modality: Dataset | None = None
    voi: tuple[VOI, ...] = ()
    presentation: Dataset = field(default_factory=Dataset)
    shutter: Shutter | None = None
    rotation: int = 0
    flip: bool = False
    areas: tuple[DisplayedArea, ...] = ()
    layers: tuple[GraphicLayer, ...] = ()
    annotations: tuple[Annotation, ...] = ()

    @classmethod
    def from_dataset(cls, ds: Dataset) -> PresentationState:
        """Read a GSPS data set; a malformed one raises :class:`PresentationError` naming the
        attribute."""
        state = cls(sop_instance_uid=str(ds.get("SOPInstanceUID") or ""))
        images = []
        for series in _items(ds, "ReferencedSeriesSequence"):
            for item in _items(series, "ReferencedImageSequence"):
                images.append(str(item.get("ReferencedSOPInstanceUID") or ""))
        state.images = tuple(images)
        modality = Dataset()
        for keyword in ("RescaleSlope", "RescaleIntercept", "ModalityLUTSequence"):
            if keyword in ds:
                modality[keyword] = ds[keyword]
        state.modality = modality if len(modality) else None
        state.voi = tuple(_voi(item, n) for n, item in
                          enumerate(_items(ds, "SoftcopyVOILUTSequence")))
        presentation = Dataset()
        for keyword in ("PresentationLUTShape", "PresentationLUTSequence"):
            if keyword in ds:
                presentation[keyword] = ds[keyword]
        state.presentation = presentation
        state.shutter = _shutter(ds)
        rotation = _int(ds, "ImageRotation", 0)
        if rotation not in (0, 90, 180, 270):
            raise PresentationError(f"Image Rotation {rotation}: one of 0, 90, 180, 270 "
                                    "(PS3.3 C.10.6)", tag=0x00700042)
        state.rotation = rotation
        state.flip = str(ds.get("ImageHorizontalFlip") or "N").strip().upper() == "Y"
        state.areas = tuple(_area(item, n) for n, item in
                            enumerate(_items(ds, "DisplayedAreaSelectionSequence")))
        state.layers = tuple(_layer(item, n) for n, item in
                             enumerate(_items(ds, "GraphicLayerSequence")))
        state.annotations = tuple(_annotation(item, n) for n, item in
                                  enumerate(_items(ds, "GraphicAnnotationSequence")))
        return state

    def voi_for(self, uid: str, frame: int) -> VOI | None:
        return next((v for v in self.voi if _applies(v.references, uid, frame)), None)

    def area_for(self, uid: str, frame: int) -> DisplayedArea | None:
        return next((a for a in self.areas if _applies(a.references, uid, frame)), None)

    def annotations_for(self, uid: str, frame: int) -> list[Annotation]:
        return [a for a in self.annotations if _applies(a.references, uid, frame)]


def render_with_presentation(image: Dataset, state: PresentationState, frame: int = 0, *,
                             size: tuple[int, int] | None = None) -> Array:
    """Frame ``frame`` (from 0) of ``image`` as ``state`` presents it: uint8 (rows, cols), or
    (rows, cols, 3) when an annotation layer recommends a colour. ``size`` (columns, rows)
    scales a SCALE TO FIT displayed area to fit in that box."""
    from dicomkit.pixels.info import PixelInfo
    from dicomkit.pixels.native import PixelSource

    uid = str(image.get("SOPInstanceUID") or "")
    if state.images and uid not in state.images:
        raise PresentationError(f"the presentation state {state.sop_instance_uid} does not "
                                f"reference the image {uid} (Referenced Series Sequence)")
    info = PixelInfo.from_dataset(image)
    photometric = info.photometric_interpretation.strip().upper()
    if info.samples_per_pixel != 1 or photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise PresentationError(f"a grayscale presentation state applies to MONOCHROME "
                                f"images; this one is {photometric}")
    stored, _ = PixelSource(image, info).decode(frame, as_rgb=True)
    shown = presentation_values(stored, image, state, frame)
    grey = lut.to_uint8(_shutter_applied(shown, state.shutter))
    area = state.area_for(uid, frame)
    picture, mapping = _spatial(grey, state, area, size)
    annotations = state.annotations_for(uid, frame)
    if not annotations:
        return picture
    from dicomkit.pixels.annotate import draw

    return draw(picture, annotations, state.layers, mapping)


def presentation_values(stored: Array, image: Dataset, state: PresentationState,
                        frame: int = 0) -> Array:
    """Stored values to P-values in [0, 255] (float64): Modality, VOI, Presentation LUT."""
    signed = Dataset()
    signed.PixelRepresentation = int(image.get("PixelRepresentation") or 0)
    modality = Dataset()
    modality.PixelRepresentation = signed.PixelRepresentation
    for element in state.modality or ():
        modality[element.tag] = element
    values = lut.apply_modality_lut(stored, modality)
    voi = state.voi_for(str(image.get("SOPInstanceUID") or ""), frame)
    if voi is not None and voi.window is not None:
        shown = lut.apply_voi(values, *voi.window)
    elif voi is not None and voi.table is not None:
        table = Dataset()
        for element in modality:
            table[element.tag] = element
        table.VOILUTSequence = [voi.table]
        shown = lut.apply_voi_lut(values, table)
    else:
        low, high = _modality_range(image, modality)
        shown = (np.asarray(values, dtype=np.float64) - low) * (255.0 / ((high - low) or 1.0))
    return lut.apply_presentation_lut(shown, state.presentation)


def _modality_range(image: Dataset, modality: Dataset) -> tuple[float, float]:
    """The range of modality values the image can hold (the identity VOI spans it)."""
    bits = int(image.get("BitsStored") or image.get("BitsAllocated") or 16)
    bits = min(max(bits, 1), 32)
    if image.get("PixelRepresentation"):
        ends = np.array([-(1 << (bits - 1)), (1 << (bits - 1)) - 1])
    else:
        ends = np.array([0, (1 << bits) - 1])
    if "ModalityLUTSequence" in modality:
        out = lut.apply_modality_lut(ends, modality)
        return 0.0, float(max(np.max(out), 1))
    mapped = lut.apply_modality_lut(ends, modality).astype(np.float64)
    return float(mapped.min()), float(mapped.max())


def _shutter_applied(shown: Array, shutter: Shutter | None) -> Array:
    """Pixels outside the shutters take the Shutter Presentation Value (C.7.6.11.1)."""
    if shutter is None:
        return shown
    rows, cols = shown.shape[:2]
    r, c = np.mgrid[1:rows + 1, 1:cols + 1]
    inside = np.ones((rows, cols), dtype=bool)
    if shutter.rectangle is not None:
        left, right, upper, lower = shutter.rectangle
        inside &= (c >= left) & (c <= right) & (r >= upper) & (r <= lower)
    if shutter.circle is not None:
        cr, cc, radius = shutter.circle
        inside &= (r - cr) ** 2 + (c - cc) ** 2 <= radius ** 2
    if shutter.polygon is not None:
        inside &= _inside_polygon(r.astype(np.float64), c.astype(np.float64), shutter.polygon)
    out = np.array(shown, dtype=np.float64)
    out[~inside] = shutter.value * 255.0 / 65535.0
    return out


def _inside_polygon(r: Array, c: Array, vertices: tuple[Point, ...]) -> Array:
    """Even-odd rule on pixel centres (row, column from 1)."""
    inside = np.zeros(r.shape, dtype=bool)
    count = len(vertices)
    for i in range(count):
        r1, c1 = vertices[i]
        r2, c2 = vertices[(i + 1) % count]
        if r1 == r2:
            continue
        crosses = (r1 > r) != (r2 > r)
        at = c1 + (r - r1) * (c2 - c1) / (r2 - r1)
        inside ^= crosses & (c < at)
    return inside


def _spatial(grey: Array, state: PresentationState, area: DisplayedArea | None,
             size: tuple[int, int] | None) -> tuple[Array, Mapping]:
    """Displayed area, rotation, flip and scale; and the mapping of image coordinates."""
    from dicomkit.pixels.annotate import Mapping

    rows, cols = grey.shape[:2]
    if area is None:
        area = DisplayedArea(None, (1, 1), (cols, rows))
    (x1, y1), (x2, y2) = area.top_left, area.bottom_right
    left, right = min(x1, x2), max(x1, x2)
    top, bottom = min(y1, y2), max(y1, y2)
    width, height = right - left + 1, bottom - top + 1
    if width * height > 1 << 28:
        raise PresentationError(f"displayed area {width}x{height} is too large to render",
                                tag=0x00700052)
    crop = np.zeros((height, width), dtype=np.uint8)
    src_top, src_left = max(top, 1), max(left, 1)
    src_bottom, src_right = min(bottom, rows), min(right, cols)
    if src_bottom >= src_top and src_right >= src_left:
        crop[src_top - top:src_bottom - top + 1, src_left - left:src_right - left + 1] = \
            grey[src_top - 1:src_bottom, src_left - 1:src_right]
    turned = np.rot90(crop, k=-(state.rotation // 90))
    if state.flip:
        turned = turned[:, ::-1]
    out_h, out_w = turned.shape
    scale_x = scale_y = 1.0
    if area.size_mode == "MAGNIFY":
        scale_x = scale_y = area.magnification
    elif area.size_mode == "SCALE TO FIT" and size is not None:
        scale_x = scale_y = min(size[0] / out_w, size[1] / (out_h * area.aspect))
    swapped = state.rotation in (90, 270)
    if swapped:
        scale_x *= area.aspect
    else:
        scale_y *= area.aspect
    new_w = max(1, int(round(out_w * scale_x)))
    new_h = max(1, int(round(out_h * scale_y)))
    if new_w * new_h > 1 << 28:
        raise PresentationError(f"rendered size {new_w}x{new_h} is too large")
    if (new_w, new_h) != (out_w, out_h):
        ys = np.minimum((np.arange(new_h) + 0.5) * out_h / new_h, out_h - 1).astype(int)
        xs = np.minimum((np.arange(new_w) + 0.5) * out_w / new_w, out_w - 1).astype(int)
        turned = turned[ys][:, xs]
    mapping = Mapping(left=left - 1, top=top - 1, width=width, height=height,
                      rotation=state.rotation, flip=state.flip,
                      scale_x=new_w / out_w, scale_y=new_h / out_h)
    return np.ascontiguousarray(turned), mapping


# -- parsing --------------------------------------------------------------------------------------
def _items(ds: Dataset, keyword: str) -> list[Dataset]:
    value = ds.get(keyword)
    return list(value) if value else []


def _int(ds: Dataset, keyword: str, default: int) -> int:
    value = ds.get(keyword)
    if value is None or value == "":
        return default
    try:
        return int(value[0] if isinstance(value, list) else value)
    except (TypeError, ValueError):
        raise PresentationError(f"{keyword} {value!r} is not an integer") from None


def _numbers(ds: Dataset, keyword: str, count: int | None, where: str) -> list[float]:
    value = ds.get(keyword)
    values = value if isinstance(value, list) else ([] if value in (None, "") else [value])
    try:
        numbers = [float(v) for v in values[:MAX_POINTS]]
    except (TypeError, ValueError):
        raise PresentationError(f"{where}: {keyword} {values!r} is not numeric") from None
    if count is not None and len(numbers) != count:
        raise PresentationError(f"{where}: {keyword} needs {count} value(s), has "
                                f"{len(numbers)}")
    return numbers


def _references(item: Dataset) -> References:
    refs = _items(item, "ReferencedImageSequence")
    if not refs:
        return None
    found = []
    for ref in refs:
        frames = ref.get("ReferencedFrameNumber")
        numbers: frozenset[int] | None = None
        if frames not in (None, ""):
            listed = frames if isinstance(frames, list) else [frames]
            numbers = frozenset(int(f) for f in listed)
        found.append((str(ref.get("ReferencedSOPInstanceUID") or ""), numbers))
    return tuple(found)


def _applies(references: References, uid: str, frame: int) -> bool:
    if references is None:
        return True
    return any(ref == uid and (frames is None or frame + 1 in frames)
               for ref, frames in references)


def _voi(item: Dataset, number: int) -> VOI:
    where = f"Softcopy VOI LUT Sequence item {number + 1}"
    references = _references(item)
    if "WindowCenter" in item:
        center = _numbers(item, "WindowCenter", None, where)
        width = _numbers(item, "WindowWidth", None, where)
        if not center or not width:
            raise PresentationError(f"{where}: Window Center without Window Width")
        function = str(item.get("VOILUTFunction") or lut.LINEAR).strip().upper()
        return VOI(references, window=(center[0], width[0], function))
    tables = _items(item, "VOILUTSequence")
    if tables:
        return VOI(references, table=tables[0])
    raise PresentationError(f"{where}: neither a window nor a VOI LUT Sequence")


def _area(item: Dataset, number: int) -> DisplayedArea:
    where = f"Displayed Area Selection Sequence item {number + 1}"
    tl = _numbers(item, "DisplayedAreaTopLeftHandCorner", 2, where)
    br = _numbers(item, "DisplayedAreaBottomRightHandCorner", 2, where)
    mode = str(item.get("PresentationSizeMode") or "SCALE TO FIT").strip().upper()
    if mode not in ("SCALE TO FIT", "TRUE SIZE", "MAGNIFY"):
        raise PresentationError(f"{where}: Presentation Size Mode {mode!r}")
    magnification = 1.0
    if mode == "MAGNIFY":
        magnification = _numbers(item, "PresentationPixelMagnificationRatio", 1, where)[0]
        if not 0 < magnification <= 64:
            raise PresentationError(f"{where}: magnification {magnification} outside (0, 64]")
    aspect = 1.0
    if "PresentationPixelSpacing" in item:
        row_spacing, col_spacing = _numbers(item, "PresentationPixelSpacing", 2, where)
        if row_spacing > 0 and col_spacing > 0:
            aspect = row_spacing / col_spacing
    elif "PresentationPixelAspectRatio" in item:
        vertical, horizontal = _numbers(item, "PresentationPixelAspectRatio", 2, where)
        if vertical > 0 and horizontal > 0:
            aspect = vertical / horizontal
    if not 1 / 16 <= aspect <= 16:
        raise PresentationError(f"{where}: pixel aspect ratio {aspect} is implausible")
    return DisplayedArea(_references(item), (int(tl[0]), int(tl[1])), (int(br[0]), int(br[1])),
                         mode, magnification, aspect)


def _shutter(ds: Dataset) -> Shutter | None:
    shape = ds.get("ShutterShape")
    if not shape:
        return None
    shapes = tuple(s.strip().upper() for s in (shape if isinstance(shape, list) else [shape]))
    where = "Display Shutter"
    rectangle = circle = polygon = None
    if "RECTANGULAR" in shapes:
        rectangle = tuple(int(_numbers(ds, k, 1, where)[0]) for k in (
            "ShutterLeftVerticalEdge", "ShutterRightVerticalEdge",
            "ShutterUpperHorizontalEdge", "ShutterLowerHorizontalEdge"))
    if "CIRCULAR" in shapes:
        centre = _numbers(ds, "CenterOfCircularShutter", 2, where)
        radius = _numbers(ds, "RadiusOfCircularShutter", 1, where)[0]
        circle = (centre[0], centre[1], radius)
    if "POLYGONAL" in shapes:
        vertices = _numbers(ds, "VerticesOfThePolygonalShutter", None, where)
        if len(vertices) < 6 or len(vertices) % 2:
            raise PresentationError(f"{where}: Vertices of the Polygonal Shutter needs at "
                                    f"least 3 (row, column) pairs, has {len(vertices)} values")
        polygon = tuple(zip(vertices[0::2], vertices[1::2], strict=True))
    unknown = set(shapes) - {"RECTANGULAR", "CIRCULAR", "POLYGONAL"}
    if unknown:
        raise PresentationError(f"{where}: Shutter Shape {sorted(unknown)} (bitmap shutters "
                                "are not supported)")
    value = _int(ds, "ShutterPresentationValue", 0)
    return Shutter(shapes, rectangle, circle, polygon, max(0, min(value, 65535)))  # type: ignore[arg-type]


def _layer(item: Dataset, number: int) -> GraphicLayer:
    name = str(item.get("GraphicLayer") or "").strip()
    if not name:
        raise PresentationError(f"Graphic Layer Sequence item {number + 1}: no Graphic Layer")
    grey = item.get("GraphicLayerRecommendedDisplayGrayscaleValue")
    lab = item.get("GraphicLayerRecommendedDisplayCIELabValue")
    cielab = None
    if lab not in (None, ""):
        values = lab if isinstance(lab, list) else [lab]
        if len(values) == 3:
            cielab = (int(values[0]), int(values[1]), int(values[2]))
    return GraphicLayer(name, _int(item, "GraphicLayerOrder", number),
                        None if grey in (None, "") else int(grey), cielab)


def _annotation(item: Dataset, number: int) -> Annotation:
    where = f"Graphic Annotation Sequence item {number + 1}"
    layer = str(item.get("GraphicLayer") or "").strip()
    graphics = []
    for n, graphic in enumerate(_items(item, "GraphicObjectSequence")):
        at = f"{where}, Graphic Object {n + 1}"
        units = _units(graphic, "GraphicAnnotationUnits", at)
        kind = str(graphic.get("GraphicType") or "").strip().upper()
        if kind not in ("POINT", "POLYLINE", "INTERPOLATED", "CIRCLE", "ELLIPSE"):
            raise PresentationError(f"{at}: Graphic Type {kind!r}")
        data = _numbers(graphic, "GraphicData", None, at)
        if len(data) % 2:
            raise PresentationError(f"{at}: Graphic Data has an odd number of values")
        points = tuple(zip(data[0::2], data[1::2], strict=True))
        needed = {"POINT": 1, "CIRCLE": 2, "ELLIPSE": 4}.get(kind, 2)
        if len(points) < needed or (kind in ("POINT", "CIRCLE", "ELLIPSE")
                                    and len(points) != needed):
            raise PresentationError(f"{at}: {kind} needs {needed} point(s), has {len(points)}")
        filled = str(graphic.get("GraphicFilled") or "N").strip().upper() == "Y"
        graphics.append(GraphicObject(units, kind, points, filled))
    texts = []
    for n, text in enumerate(_items(item, "TextObjectSequence")):
        at = f"{where}, Text Object {n + 1}"
        value = str(text.get("UnformattedTextValue") or "")
        box = anchor = None
        box_units = anchor_units = None
        if "BoundingBoxTopLeftHandCorner" in text:
            box_units = _units(text, "BoundingBoxAnnotationUnits", at)
            tl = _numbers(text, "BoundingBoxTopLeftHandCorner", 2, at)
            br = _numbers(text, "BoundingBoxBottomRightHandCorner", 2, at)
            box = ((tl[0], tl[1]), (br[0], br[1]))
        if "AnchorPoint" in text:
            anchor_units = _units(text, "AnchorPointAnnotationUnits", at)
            point = _numbers(text, "AnchorPoint", 2, at)
            anchor = (point[0], point[1])
        if box is None and anchor is None:
            raise PresentationError(f"{at}: neither a bounding box nor an anchor point")
        texts.append(TextObject(
            value, box_units, box,
            str(text.get("BoundingBoxTextHorizontalJustification") or "LEFT").strip().upper(),
            anchor_units, anchor,
            str(text.get("AnchorPointVisible") or "N").strip().upper() == "Y"))
    return Annotation(layer, _references(item), tuple(graphics), tuple(texts))


def _units(item: Dataset, keyword: str, where: str) -> str:
    units = str(item.get(keyword) or "").strip().upper()
    if units not in ("PIXEL", "DISPLAY", "MATRIX"):
        raise PresentationError(f"{where}: {keyword} {units!r} is not PIXEL or DISPLAY")
    return "PIXEL" if units == "MATRIX" else units

