"""Graphic and text annotations of a presentation state drawn on the rendered picture
(PS3.3 C.10.5 Graphic Annotation, C.10.7 Graphic Layer).

Layers are drawn in ascending Graphic Layer Order (annotations of a layer the Graphic Layer
Sequence does not list come last), each in its recommended display value: the CIELab value
(PCS-Values, C.10.7.1.1, D50) as sRGB when any drawn layer has one — the picture then becomes
RGB — else the grayscale P-value, else white.

Coordinates (C.10.5.1.2): PIXEL units are image columns and rows with 0\\0 the top left corner
of the top left pixel, mapped through the displayed area, rotation, flip and scale of the
picture (:class:`Mapping`); DISPLAY units are fractions 0..1 of the displayed area. CIRCLE is a
centre and a point on the circle, ELLIPSE the ends of its major then minor axis (both drawn as
polygons after mapping, so they follow a non-square pixel aspect), INTERPOLATED a Catmull-Rom
curve through its points, POINT one pixel. Text uses Pillow's built-in default font; it is
placed in its bounding box (with its horizontal justification), else at its anchor point, and
a visible anchor point is joined to the box by a line.

Pillow (``PIL.ImageDraw``) does the rasterising (lines, polygons, text); it is imported only
when a presentation state has annotations to draw (docs/dependencies.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from dicomkit.pixels.presentation import Annotation, GraphicLayer, GraphicObject, TextObject

Array = np.ndarray[Any, Any]
Point = tuple[float, float]
CURVE_STEPS = 8
ROUND_STEPS = 96


@dataclass(frozen=True)
class Mapping:
    """Image pixel coordinates to picture coordinates: the displayed area (its top left corner
    0-based, its size), the rotation (clockwise), the horizontal flip and the scale."""

    left: int
    top: int
    width: int
    height: int
    rotation: int = 0
    flip: bool = False
    scale_x: float = 1.0
    scale_y: float = 1.0

    def pixel(self, x: float, y: float) -> Point:
        """A point in PIXEL units to the picture."""
        x, y = x - self.left, y - self.top
        w, h = self.width, self.height
        if self.rotation == 90:
            x, y, w = h - y, x, h
        elif self.rotation == 180:
            x, y = w - x, h - y
        elif self.rotation == 270:
            x, y, w = y, w - x, h
        if self.flip:
            x = w - x
        return x * self.scale_x, y * self.scale_y

    def display(self, x: float, y: float) -> Point:
        """A point in DISPLAY units (fractions of the displayed area) to the picture."""
        turned = self.rotation in (90, 270)
        w, h = (self.height, self.width) if turned else (self.width, self.height)
        return x * w * self.scale_x, y * h * self.scale_y

    def map(self, units: str | None, point: Point) -> Point:
        return self.display(*point) if units == "DISPLAY" else self.pixel(*point)


def draw(picture: Array, annotations: Sequence[Annotation], layers: Sequence[GraphicLayer],
         mapping: Mapping) -> Array:
    """``picture`` (uint8 grey) with ``annotations`` drawn on it, layer by layer."""
    from PIL import Image, ImageDraw

    known = {layer.name: layer for layer in layers}
    used = [known[a.layer] for a in annotations if a.layer in known]
    colour = any(layer.cielab is not None for layer in used)
    image = Image.fromarray(picture).convert("RGB" if colour else "L")
    pen = ImageDraw.Draw(image)
    last = max((layer.order for layer in layers), default=0) + 1
    ordered = sorted(annotations, key=lambda a: known[a.layer].order if a.layer in known
                     else last)
    for annotation in ordered:
        ink = _ink(known.get(annotation.layer), colour)
        for graphic in annotation.graphics:
            _graphic(pen, graphic, mapping, ink)
        for text in annotation.texts:
            _text(pen, text, mapping, ink)
    return np.asarray(image)


def _ink(layer: GraphicLayer | None, colour: bool) -> Any:
    if layer is not None and colour and layer.cielab is not None:
        return cielab_to_rgb(layer.cielab)
    grey = 255
    if layer is not None and layer.grayscale is not None:
        grey = int(round(layer.grayscale * 255 / 65535))
    return (grey, grey, grey) if colour else grey


def cielab_to_rgb(encoded: tuple[int, int, int]) -> tuple[int, int, int]:
    """PCS-Values L*a*b* (C.10.7.1.1: L 0..0xFFFF for 0..100, a and b 0..0xFFFF for -128..127)
    to 8-bit sRGB, through XYZ with the D50 white point of the ICC PCS."""
    lightness = encoded[0] * 100.0 / 65535
    a = encoded[1] * 255.0 / 65535 - 128
    b = encoded[2] * 255.0 / 65535 - 128
    fy = (lightness + 16) / 116
    fx, fz = fy + a / 500, fy - b / 200

    def inverse(t: float) -> float:
        return t ** 3 if t > 6 / 29 else 3 * (6 / 29) ** 2 * (t - 4 / 29)

    x, y, z = 0.9642 * inverse(fx), 1.0 * inverse(fy), 0.8249 * inverse(fz)
    linear = (3.1338561 * x - 1.6168667 * y - 0.4906146 * z,
              -0.9787684 * x + 1.9161415 * y + 0.0334540 * z,
              0.0719453 * x - 0.2289914 * y + 1.4052427 * z)

    def gamma(v: float) -> int:
        v = min(max(v, 0.0), 1.0)
        v = 12.92 * v if v <= 0.0031308 else 1.055 * v ** (1 / 2.4) - 0.055
        return int(round(v * 255))

    return gamma(linear[0]), gamma(linear[1]), gamma(linear[2])


def _outline(graphic: GraphicObject) -> list[Point]:
    """The object as a polyline in its own units (circles and ellipses sampled)."""
    points = list(graphic.points)
    if graphic.kind == "CIRCLE":
        (cx, cy), (px, py) = points
        radius = math.hypot(px - cx, py - cy)
        return [(cx + radius * math.cos(t), cy + radius * math.sin(t))
                for t in np.linspace(0, 2 * math.pi, ROUND_STEPS + 1)]
    if graphic.kind == "ELLIPSE":
        (ax1, ay1), (ax2, ay2), (bx1, by1), (bx2, by2) = points
        cx, cy = (ax1 + ax2) / 2, (ay1 + ay2) / 2
        major = ((ax2 - ax1) / 2, (ay2 - ay1) / 2)
        minor_length = math.hypot(bx2 - bx1, by2 - by1) / 2
        length = math.hypot(*major) or 1.0
        minor = (-major[1] / length * minor_length, major[0] / length * minor_length)
        return [(cx + major[0] * math.cos(t) + minor[0] * math.sin(t),
                 cy + major[1] * math.cos(t) + minor[1] * math.sin(t))
                for t in np.linspace(0, 2 * math.pi, ROUND_STEPS + 1)]
    if graphic.kind == "INTERPOLATED" and len(points) > 2:
        return _catmull_rom(points)
    return points


def _catmull_rom(points: list[Point]) -> list[Point]:
    padded = [points[0], *points, points[-1]]
    curve: list[Point] = []
    for i in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[i - 1], padded[i], padded[i + 1], padded[i + 2]
        for step in range(CURVE_STEPS):
            t = step / CURVE_STEPS
            t2, t3 = t * t, t * t * t
            curve.append(tuple(0.5 * (2 * p1[k] + (-p0[k] + p2[k]) * t
                                      + (2 * p0[k] - 5 * p1[k] + 4 * p2[k] - p3[k]) * t2
                                      + (-p0[k] + 3 * p1[k] - 3 * p2[k] + p3[k]) * t3)
                               for k in (0, 1)))  # type: ignore[arg-type]
    curve.append(points[-1])
    return curve


def _graphic(pen: Any, graphic: GraphicObject, mapping: Mapping, ink: Any) -> None:
    mapped = [mapping.map(graphic.units, p) for p in _outline(graphic)]
    if graphic.kind == "POINT":
        x, y = mapped[0]
        pen.point((math.floor(x), math.floor(y)), fill=ink)
        return
    closed = graphic.kind in ("CIRCLE", "ELLIPSE") or (
        len(mapped) > 2 and mapped[0] == mapped[-1])
    if graphic.filled and closed and len(mapped) > 2:
        pen.polygon(mapped, fill=ink, outline=ink)
    else:
        pen.line(mapped, fill=ink, width=1)


def _text(pen: Any, text: TextObject, mapping: Mapping, ink: Any) -> None:
    from PIL import ImageFont

    font = ImageFont.load_default()
    if text.box is not None:
        (x1, y1), (x2, y2) = (mapping.map(text.box_units, p) for p in text.box)
        left, right, top = min(x1, x2), max(x1, x2), min(y1, y2)
        box = pen.textbbox((0, 0), text.text, font=font)
        width = box[2] - box[0]
        if text.justification == "RIGHT":
            x = right - width
        elif text.justification == "CENTER":
            x = (left + right - width) / 2
        else:
            x = left
        pen.text((x, top), text.text, fill=ink, font=font)
        if text.anchor is not None and text.anchor_visible:
            ax, ay = mapping.map(text.anchor_units, text.anchor)
            pen.line([(ax, ay), ((left + right) / 2, max(y1, y2))], fill=ink, width=1)
    elif text.anchor is not None:
        ax, ay = mapping.map(text.anchor_units, text.anchor)
        pen.text((ax, ay), text.text, fill=ink, font=font)
