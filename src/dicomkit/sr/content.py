"""The SR content tree (PS3.3 C.17.3, C.18): content items, their values, their relationships.

A :class:`ContentItem` has a value type (Table C.17.3-7), a concept name (a :class:`Code`),
a value of the type's Python form, the relationship to its parent (Table C.17.3-8; ``None``
for the root) and its children. A child added with :meth:`ContentItem.add_reference` is a
by-reference relationship (C.17.3.2.4): it points at another item of the same tree, and reads
through to it (``value_type``, ``concept_name`` and ``value`` are the target's), while
``is_reference`` and ``target`` say what it is.

Values: TEXT ``str``; CODE :class:`Code`; NUM :class:`NumericValue`; PNAME
:class:`PersonName`; DATE ``date``; TIME ``time``; DATETIME ``datetime``; UIDREF ``str``;
COMPOSITE, IMAGE, WAVEFORM :class:`Reference`; SCOORD :class:`Scoord`; SCOORD3D
:class:`Scoord3D`; TCOORD :class:`Tcoord`; CONTAINER ``None``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np

from dicomkit.core.values import PersonName
from dicomkit.iod.codes import Code
from dicomkit.sr.errors import SRError

VALUE_TYPES = ("CONTAINER", "TEXT", "CODE", "NUM", "PNAME", "DATE", "TIME", "DATETIME",
               "UIDREF", "COMPOSITE", "IMAGE", "WAVEFORM", "SCOORD", "SCOORD3D", "TCOORD")
"""PS3.3 Table C.17.3-7 (the value types of the IODs this package writes)."""

RELATIONSHIPS = ("CONTAINS", "HAS PROPERTIES", "HAS OBS CONTEXT", "HAS ACQ CONTEXT",
                 "INFERRED FROM", "SELECTED FROM", "HAS CONCEPT MOD")
"""PS3.3 Table C.17.3-8."""

SCOORD_POINTS = {"POINT": (1, 1), "MULTIPOINT": (1, None), "POLYLINE": (2, None),
                 "CIRCLE": (2, 2), "ELLIPSE": (4, 4)}
"""PS3.3 C.18.6.1.2 Graphic Type of SCOORD: (fewest, most) points."""

SCOORD3D_POINTS = {"POINT": (1, 1), "MULTIPOINT": (1, None), "POLYLINE": (2, None),
                   "POLYGON": (3, None), "ELLIPSE": (4, 4), "ELLIPSOID": (6, 6)}
"""PS3.3 C.18.9.1.2 Graphic Type of SCOORD3D: (fewest, most) points."""

TCOORD_RANGE_TYPES = ("POINT", "MULTIPOINT", "SEGMENT", "MULTISEGMENT", "BEGIN", "END")
"""PS3.3 C.18.7.1.1 Temporal Range Type."""

CONTINUITY = ("SEPARATE", "CONTINUOUS")


@dataclass(frozen=True)
class NumericValue:
    """A NUM value (PS3.3 C.18.1): the decimal value, its UCUM unit, an optional qualifier
    (CID 42, e.g. "Not a number"; the value is then ``None``) and the Floating Point Value
    (0040,A161) when the Decimal String cannot hold the full precision."""

    value: Decimal | None
    unit: Code | None = None
    qualifier: Code | None = None
    float_value: float | None = None

    def __post_init__(self) -> None:
        if self.value is not None and not isinstance(self.value, Decimal):
            try:
                object.__setattr__(self, "value", Decimal(str(self.value)))
            except InvalidOperation:
                raise SRError(f"NUM value {self.value!r} is not a number") from None
        if self.value is not None and not self.value.is_finite():
            raise SRError(f"NUM value {self.value} is not finite (use a qualifier, CID 42)")
        if self.value is None and self.qualifier is None:
            raise SRError("a NUM with no value needs a Numeric Value Qualifier (CID 42)")
        if self.value is not None and self.unit is None:
            raise SRError("a NUM value needs Measurement Units (UCUM, CID 82)")

    def __str__(self) -> str:
        if self.value is None:
            return f"({self.qualifier.meaning if self.qualifier else ''})"
        unit = self.unit.value if self.unit is not None else ""
        text = f"{self.value} {unit}".rstrip()
        if self.qualifier is not None:
            text += f" ({self.qualifier.meaning})"
        return text


@dataclass(frozen=True)
class Reference:
    """A COMPOSITE, IMAGE or WAVEFORM value (PS3.3 C.18.3-5): the referenced SOP class and
    instance, with frames (Referenced Frame Number), segments (Referenced Segment Number),
    waveform channels ((multiplex group, channel) pairs) and the presentation state to show an
    image with (its SOP class and instance), where they apply."""

    sop_class: str
    sop_instance: str
    frames: tuple[int, ...] = ()
    segments: tuple[int, ...] = ()
    channels: tuple[tuple[int, int], ...] = ()
    presentation_state: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        if not self.sop_class or not self.sop_instance:
            raise SRError("a reference needs a SOP class UID and a SOP instance UID")
        object.__setattr__(self, "frames", tuple(int(f) for f in self.frames))
        object.__setattr__(self, "segments", tuple(int(s) for s in self.segments))
        object.__setattr__(self, "channels", tuple((int(m), int(c)) for m, c in self.channels))
        if any(n < 1 for n in self.frames + self.segments):
            raise SRError("frame and segment numbers start at 1")


def _points(points: Any, width: int, what: str) -> np.ndarray:
    array = np.asarray(points, dtype=np.float32)
    if array.ndim == 1 and array.size % width == 0:
        array = array.reshape(-1, width)
    if array.ndim != 2 or array.shape[1] != width:
        raise SRError(f"{what} points must be shaped (n, {width}), not {array.shape}")
    if not np.isfinite(array).all():
        raise SRError(f"{what} points must be finite")
    return array


@dataclass(frozen=True, eq=False)
class Scoord:
    """A SCOORD value (PS3.3 C.18.6): a graphic type and image points (n, 2) as float32
    (column, row), in the pixel space of the IMAGE it is SELECTED FROM."""

    graphic_type: str
    points: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "points", _points(self.points, 2, "SCOORD"))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Scoord) and self.graphic_type == other.graphic_type
                and np.array_equal(self.points, other.points))

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, eq=False)
class Scoord3D:
    """A SCOORD3D value (PS3.3 C.18.9): a graphic type, points (n, 3) as float32 in the
    patient coordinate system (mm) of a frame of reference."""

    graphic_type: str
    points: np.ndarray
    frame_of_reference: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "points", _points(self.points, 3, "SCOORD3D"))
        if not self.frame_of_reference:
            raise SRError("a SCOORD3D needs its Referenced Frame of Reference UID")

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Scoord3D) and self.graphic_type == other.graphic_type
                and self.frame_of_reference == other.frame_of_reference
                and np.array_equal(self.points, other.points))

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Tcoord:
    """A TCOORD value (PS3.3 C.18.7): a temporal range type and exactly one of sample
    positions, time offsets (seconds) or date-times."""

    range_type: str
    samples: tuple[int, ...] = ()
    offsets: tuple[float, ...] = ()
    datetimes: tuple[_dt.datetime, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "samples", tuple(int(s) for s in self.samples))
        object.__setattr__(self, "offsets", tuple(float(o) for o in self.offsets))
        object.__setattr__(self, "datetimes", tuple(self.datetimes))
        given = sum(bool(x) for x in (self.samples, self.offsets, self.datetimes))
        if given != 1:
            raise SRError("a TCOORD has exactly one of sample positions, time offsets or "
                          "date-times (PS3.3 C.18.7)")


@dataclass(eq=False)
class ContentItem:
    """One node of an SR content tree. Build with the class methods (:meth:`container`,
    :meth:`text`, :meth:`num`, ...) and :meth:`add`; compare with ``==`` (structure and
    values; by-reference children compare by the position of their target)."""

    own_value_type: str | None
    own_concept_name: Code | None = None
    own_value: Any = None
    relationship: str | None = None
    children: list[ContentItem] = field(default_factory=list)
    continuity: str | None = None
    template: str | None = None
    observation_uid: str | None = None
    observation_datetime: _dt.datetime | None = None
    target: ContentItem | None = None

    # -- reading ---------------------------------------------------------------------------
    @property
    def is_reference(self) -> bool:
        """A by-reference relationship (PS3.3 C.17.3.2.4): ``target`` is the item meant."""
        return self.target is not None

    @property
    def value_type(self) -> str:
        if self.target is not None:
            return self.target.value_type
        return self.own_value_type or ""

    @property
    def concept_name(self) -> Code | None:
        return self.target.concept_name if self.target is not None else self.own_concept_name

    @concept_name.setter
    def concept_name(self, new: Code | None) -> None:
        self.own_concept_name = new

    @property
    def value(self) -> Any:
        return self.target.value if self.target is not None else self.own_value

    @value.setter
    def value(self, new: Any) -> None:
        self.own_value = new

    def __iter__(self) -> Iterator[ContentItem]:
        return iter(self.children)

    def walk(self) -> Iterator[tuple[str, ContentItem]]:
        """Every item with its position path ("1", "1.1", "1.1.2", ...), depth first, in
        document order; by-reference children are listed, not followed."""
        stack: list[tuple[str, ContentItem]] = [("1", self)]
        while stack:
            path, item = stack.pop()
            yield path, item
            for place in range(len(item.children), 0, -1):
                stack.append((f"{path}.{place}", item.children[place - 1]))

    def find(self, name: Code) -> list[ContentItem]:
        """The descendants (by value) whose concept name is ``name``."""
        return [item for _, item in self.walk() if item is not self and not item.is_reference
                and item.concept_name == name]

    # -- building ----------------------------------------------------------------------------
    def add(self, relationship: str, child: ContentItem) -> ContentItem:
        """Add ``child`` by value with ``relationship`` (PS3.3 Table C.17.3-8); returns it."""
        if relationship not in RELATIONSHIPS:
            raise SRError(f"unknown relationship type {relationship!r} "
                          f"(PS3.3 Table C.17.3-8: {', '.join(RELATIONSHIPS)})")
        if not isinstance(child, ContentItem):
            raise SRError(f"a child must be a ContentItem, not {type(child).__name__}")
        if child.relationship is not None:
            raise SRError("this content item already has a parent")
        if child is self:
            raise SRError("a content item cannot contain itself")
        child.relationship = relationship
        self.children.append(child)
        return child

    def add_reference(self, relationship: str, target: ContentItem) -> ContentItem:
        """Add a by-reference relationship to ``target``, another item of the same tree
        (PS3.3 C.17.3.2.4; written as its Referenced Content Item Identifier)."""
        if not isinstance(target, ContentItem) or target.is_reference:
            raise SRError("a by-reference target must be a content item given by value")
        return self.add(relationship, ContentItem(None, target=target))

    @classmethod
    def container(cls, name: Code | None, *, template: str | None = None,
                  continuity: str = "SEPARATE") -> ContentItem:
        if continuity not in CONTINUITY:
            raise SRError(f"Continuity of Content is SEPARATE or CONTINUOUS, not {continuity!r}")
        return cls("CONTAINER", name, None, continuity=continuity,
                   template=str(template) if template is not None else None)

    @classmethod
    def text(cls, name: Code, text: str) -> ContentItem:
        return cls("TEXT", name, str(text))

    @classmethod
    def code(cls, name: Code, code: Code) -> ContentItem:
        if not isinstance(code, Code):
            raise SRError(f"a CODE value is a Code, not {type(code).__name__}")
        return cls("CODE", name, code)

    @classmethod
    def num(cls, name: Code, value: Any, unit: Code | None,
            qualifier: Code | None = None, *, float_value: float | None = None) -> ContentItem:
        number = value if isinstance(value, NumericValue) else NumericValue(
            None if value is None else value, unit, qualifier, float_value)
        return cls("NUM", name, number)

    @classmethod
    def pname(cls, name: Code, person: str) -> ContentItem:
        return cls("PNAME", name, PersonName(person))

    @classmethod
    def date(cls, name: Code, value: _dt.date) -> ContentItem:
        if not isinstance(value, _dt.date) or isinstance(value, _dt.datetime):
            raise SRError(f"a DATE value is a datetime.date, not {type(value).__name__}")
        return cls("DATE", name, value)

    @classmethod
    def time(cls, name: Code, value: _dt.time) -> ContentItem:
        if not isinstance(value, _dt.time):
            raise SRError(f"a TIME value is a datetime.time, not {type(value).__name__}")
        return cls("TIME", name, value)

    @classmethod
    def datetime(cls, name: Code, value: _dt.datetime) -> ContentItem:
        if not isinstance(value, _dt.datetime):
            raise SRError(f"a DATETIME value is a datetime.datetime, not {type(value).__name__}")
        return cls("DATETIME", name, value)

    @classmethod
    def uidref(cls, name: Code, uid: str) -> ContentItem:
        return cls("UIDREF", name, str(uid))

    @classmethod
    def composite(cls, name: Code | None, ref: Reference) -> ContentItem:
        return cls("COMPOSITE", name, ref)

    @classmethod
    def image(cls, name: Code | None, ref: Reference) -> ContentItem:
        return cls("IMAGE", name, ref)

    @classmethod
    def waveform(cls, name: Code | None, ref: Reference) -> ContentItem:
        return cls("WAVEFORM", name, ref)

    @classmethod
    def scoord(cls, name: Code | None, graphic_type: str, points: Any) -> ContentItem:
        return cls("SCOORD", name, Scoord(graphic_type, points))

    @classmethod
    def scoord3d(cls, name: Code | None, graphic_type: str, points: Any,
                 frame_of_reference: str) -> ContentItem:
        return cls("SCOORD3D", name, Scoord3D(graphic_type, points, frame_of_reference))

    @classmethod
    def tcoord(cls, name: Code | None, range_type: str, *, samples: Sequence[int] = (),
               offsets: Sequence[float] = (),
               datetimes: Sequence[_dt.datetime] = ()) -> ContentItem:
        return cls("TCOORD", name, Tcoord(range_type, tuple(samples), tuple(offsets),
                                          tuple(datetimes)))

    # -- comparing ---------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ContentItem):
            return NotImplemented
        return _shape(self) == _shape(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        name = self.concept_name.meaning if self.concept_name else ""
        kind = "reference to " if self.is_reference else ""
        return (f"<ContentItem {self.relationship or 'root'} {kind}{self.value_type} "
                f"{name!r} {len(self.children)} child(ren)>")


def paths(root: ContentItem) -> dict[int, str]:
    """``id(item) -> position path`` for every item of the tree held by value."""
    return {id(item): path for path, item in root.walk()}


def _shape(root: ContentItem) -> list[tuple[Any, ...]]:
    """The tree as a flat list, by-reference targets given by position path, for ``==``."""
    where = paths(root)
    shape: list[tuple[Any, ...]] = []
    for path, item in root.walk():
        if item.target is not None:
            shape.append((path, item.relationship, "REF", where.get(id(item.target))))
            continue
        value = item.own_value
        if isinstance(value, (Scoord, Scoord3D)):
            value = (value.graphic_type, value.points.tolist(),
                     getattr(value, "frame_of_reference", None))
        shape.append((path, item.relationship, item.own_value_type, item.own_concept_name,
                      item.own_concept_name.meaning if item.own_concept_name else None,
                      value, _meaning(value), item.continuity, item.template,
                      item.observation_uid, item.observation_datetime, len(item.children)))
    return shape


def _meaning(value: Any) -> Any:
    if isinstance(value, Code):
        return value.meaning
    if isinstance(value, NumericValue):
        return (value.unit.meaning if value.unit else None,
                value.qualifier.meaning if value.qualifier else None)
    return None
