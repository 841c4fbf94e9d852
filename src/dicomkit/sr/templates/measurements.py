"""The pieces of a measurement group: TID 300 Measurement, qualitative evaluations, TID 4019
Algorithm Identification, finding sites, and the region references of TID 1410/1411 (an image
region SCOORD with its source image, an SCOORD3D region, a referenced SEG segment or
segmentation frame)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import dicomkit.sr.templates.concepts as C
from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import registered
from dicomkit.iod.codes import Code
from dicomkit.sr import ContentItem, Reference
from dicomkit.sr.templates.tree import Items, children, codes, optional, required, texts
from dicomkit.sr.templates.valuesets import TemplateError, check, check_ucum

MOD = "HAS CONCEPT MOD"
CONTAINS = "CONTAINS"


@dataclass
class AlgorithmIdentification:
    """TID 4019: the algorithm's name, version and parameters (HAS CONCEPT MOD TEXT rows)."""

    name: str
    version: str
    parameters: tuple[str, ...] = ()

    def add_to(self, parent: ContentItem) -> None:
        parent.add(MOD, ContentItem.text(C.ALGORITHM_NAME, self.name))
        parent.add(MOD, ContentItem.text(C.ALGORITHM_VERSION, self.version))
        for parameter in self.parameters:
            parent.add(MOD, ContentItem.text(C.ALGORITHM_PARAMETERS, parameter))

    @classmethod
    def from_parent(cls, parent: Items, where: str) -> AlgorithmIdentification | None:
        name = optional(parent, C.ALGORITHM_NAME, "TEXT", where)
        if name is None:
            return None
        version = required(parent, C.ALGORITHM_VERSION, "TEXT", f"{where} > TID 4019")
        return cls(str(name.value), str(version.value),
                   tuple(texts(parent, C.ALGORITHM_PARAMETERS)))


@dataclass
class FindingSite:
    """An anatomic location (HAS CONCEPT MOD CODE "Finding Site") with its laterality (DCID
    244) and topographical modifier."""

    site: Code
    laterality: Code | None = None
    modifier: Code | None = None

    def add_to(self, parent: ContentItem, where: str) -> None:
        check("laterality", self.laterality, where)
        item = parent.add(MOD, ContentItem.code(C.FINDING_SITE, self.site))
        if self.laterality is not None:
            item.add(MOD, ContentItem.code(C.LATERALITY, self.laterality))
        if self.modifier is not None:
            item.add(MOD, ContentItem.code(C.TOPOGRAPHICAL_MODIFIER, self.modifier))

    @classmethod
    def all_in(cls, parent: Items) -> list[FindingSite]:
        found = []
        for item in children(parent, C.FINDING_SITE, "CODE"):
            laterality = codes(item, C.LATERALITY)
            modifier = codes(item, C.TOPOGRAPHICAL_MODIFIER)
            found.append(cls(item.value, laterality[0] if laterality else None,
                             modifier[0] if modifier else None))
        return found


@dataclass
class QualitativeEvaluation:
    """A coded question and answer (CONTAINS CODE), e.g. (Margin, Spiculated)."""

    name: Code
    value: Code


@dataclass
class Measurement:
    """TID 300: a numeric measurement (NUM with a UCUM unit) and what qualifies it: method,
    derivation (DCID 7464 in TID 1419), finding sites, the algorithm that made it (TID 4019)
    and the images it was inferred from (INFERRED FROM IMAGE "Source of Measurement").
    A measurement that could not be made has ``value`` and ``unit`` None and a ``qualifier``
    saying why (CID 42, e.g. (114000, DCM, "Not a number")), PS3.3 C.18.1.1."""

    name: Code
    value: float | None
    unit: Code | None
    qualifier: Code | None = None
    method: Code | None = None
    derivation: Code | None = None
    finding_sites: list[FindingSite] = field(default_factory=list)
    algorithm: AlgorithmIdentification | None = None
    source_images: list[Reference] = field(default_factory=list)

    def to_content(self, where: str) -> ContentItem:
        here = f"{where} > TID 300 Measurement {getattr(self.name, 'meaning', self.name)!r}"
        if not isinstance(self.name, Code):
            raise TemplateError(f"{here}: the measurement's name {self.name!r} is not a Code")
        check("measurement_name", self.name, here)
        check("derivation", self.derivation, here)
        number: float | None = None
        if self.value is None:
            if self.qualifier is None:
                raise TemplateError(f"{here}: no value and no qualifier saying why (PS3.3 "
                                    "C.18.1.1, Numeric Value Qualifier Code Sequence, CID 42)")
        else:
            unit = self.unit
            if unit is None:
                raise TemplateError(f"{here}: a value needs its unit (TID 300 row 1)")
            check_ucum(unit, here)
            try:
                number = float(self.value)
            except (TypeError, ValueError):
                raise TemplateError(f"{here}: value {self.value!r} is not a number") from None
            if not math.isfinite(number):
                raise TemplateError(f"{here}: value {self.value!r} is not finite (TID 300 uses "
                                    "a qualifier, not NaN or infinity, for a missing value)")
        item = ContentItem.num(self.name, number, self.unit, self.qualifier)
        if self.method is not None:
            item.add(MOD, ContentItem.code(C.MEASUREMENT_METHOD, self.method))
        if self.derivation is not None:
            item.add(MOD, ContentItem.code(C.DERIVATION, self.derivation))
        for site in self.finding_sites:
            site.add_to(item, here)
        if self.algorithm is not None:
            self.algorithm.add_to(item)
        for source in self.source_images:
            item.add("INFERRED FROM", ContentItem.image(C.SOURCE_OF_MEASUREMENT, source))
        return item

    @classmethod
    def from_content(cls, item: ContentItem, where: str) -> Measurement:
        here = f"{where} > NUM {item.concept_name.meaning if item.concept_name else ''!r}"
        numeric = item.value
        if item.concept_name is None or numeric is None:
            raise TemplateError(f"{here}: a measurement needs a concept name and a value")
        number = getattr(numeric, "float_value", None)
        if number is None and numeric.value is not None:
            number = float(numeric.value)
        method = codes(item, C.MEASUREMENT_METHOD)
        derivation = codes(item, C.DERIVATION)
        return cls(item.concept_name, None if number is None else float(number), numeric.unit,
                   numeric.qualifier,
                   method[0] if method else None, derivation[0] if derivation else None,
                   FindingSite.all_in(item), AlgorithmIdentification.from_parent(item, here),
                   [child.value for child in children(item, None, "IMAGE", "INFERRED FROM")])


def _float32_points(points: Any, dims: int, where: str) -> tuple[tuple[float, ...], ...]:
    """Points as the float32 values the SCOORD/SCOORD3D Graphic Data (FL) will hold, so that an
    object equals its parsed copy."""
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != dims or len(array) == 0:
        raise TemplateError(f"{where}: points must be a non-empty (n, {dims}) array, got shape "
                            f"{array.shape}")
    return tuple(tuple(float(v) for v in row) for row in array.astype(np.float32))


@dataclass
class ImageRegion:
    """A planar region (TID 1410 row "Image Region": CONTAINS SCOORD, with SELECTED FROM the
    image it lies on). ``points`` are (column, row) pairs in the image's pixel grid."""

    graphic_type: str
    points: Any  # (n, 2) array-like; kept as a tuple of float32-exact (column, row) pairs
    source: Reference

    def __post_init__(self) -> None:
        self.points = _float32_points(self.points, 2, "Image Region")

    def add_to(self, parent: ContentItem, name: Code = C.IMAGE_REGION) -> None:
        item = parent.add(CONTAINS, ContentItem.scoord(name, self.graphic_type,
                                                       np.asarray(self.points, np.float32)))
        item.add("SELECTED FROM", ContentItem.image(C.SOURCE, self.source))

    @classmethod
    def from_content(cls, item: ContentItem, where: str) -> ImageRegion:
        sources = children(item, None, "IMAGE", "SELECTED FROM")
        if len(sources) != 1:
            raise TemplateError(f"{where} > SCOORD 'Image Region': {len(sources)} SELECTED FROM "
                                "images, the template requires one")
        scoord = item.value
        return cls(scoord.graphic_type, np.asarray(scoord.points), sources[0].value)


@dataclass
class ImageRegion3D:
    """A region in patient space (CONTAINS SCOORD3D "Image Region" in TID 1410, "Volume
    Surface" in TID 1411; Comprehensive 3D SR only):
    ``points`` are (x, y, z) in mm in the frame of reference."""

    graphic_type: str
    points: Any  # (n, 3) array-like; kept as a tuple of float32-exact (x, y, z) triples
    frame_of_reference: str

    def __post_init__(self) -> None:
        self.points = _float32_points(self.points, 3, "Image Region (3D)")

    def add_to(self, parent: ContentItem, name: Code = C.IMAGE_REGION) -> None:
        parent.add(CONTAINS, ContentItem.scoord3d(name, self.graphic_type,
                                                  np.asarray(self.points, np.float32),
                                                  self.frame_of_reference))

    @classmethod
    def from_content(cls, item: ContentItem) -> ImageRegion3D:
        scoord = item.value
        return cls(scoord.graphic_type, np.asarray(scoord.points),
                   str(scoord.frame_of_reference))


def segmentation_storage() -> str:
    return registered("SegmentationStorage")


@dataclass
class SegmentReference:
    """A segment of a Segmentation instance and the images or series it was made from: TID
    1411 "Referenced Segment" (the whole segment, by its number) or TID 1410 "Referenced
    Segmentation Frame" (by ``frames``, with ``segment_number`` None: a SEG frame belongs to
    one segment, and the Image Reference macro names frames or segments, not both, PS3.3
    C.18.4); followed by CONTAINS IMAGE "Source image for segmentation" rows or a UIDREF
    "Source series for segmentation"."""

    sop_instance: str
    segment_number: int | None
    source_images: list[Reference] = field(default_factory=list)
    source_series: str | None = None
    frames: tuple[int, ...] = ()
    sop_class: str = field(default_factory=segmentation_storage)

    @classmethod
    def from_segmentation(cls, seg: Dataset, segment_number: int, *,
                          source_images: bool = False) -> SegmentReference:
        """The reference to segment ``segment_number`` of a Segmentation data set (Segmentation
        or Label Map Segmentation), with its source taken from the SEG's Referenced Series
        Sequence (PS3.3 C.12.2 Common Instance Reference): the series, or with
        ``source_images`` every source instance. TemplateError when the SEG has no such
        segment or names no single source series."""
        where = f"Segmentation {seg.get('SOPInstanceUID')}"
        numbers = [int(item.get("SegmentNumber") or 0)
                   for item in seg.get("SegmentSequence") or []]
        if segment_number not in numbers:
            raise TemplateError(f"{where}: no segment {segment_number} (it has "
                                f"{', '.join(map(str, numbers)) or 'none'})")
        series = list(seg.get("ReferencedSeriesSequence") or [])
        if len(series) != 1:
            raise TemplateError(f"{where}: {len(series)} source series in its Referenced "
                                "Series Sequence; name the source images explicitly")
        images = [Reference(str(i.ReferencedSOPClassUID), str(i.ReferencedSOPInstanceUID))
                  for i in series[0].get("ReferencedInstanceSequence") or []]
        return cls(str(seg.SOPInstanceUID), segment_number,
                   source_images=images if source_images else [],
                   source_series=None if source_images else str(series[0].SeriesInstanceUID),
                   sop_class=str(seg.SOPClassUID))

    def reference(self) -> Reference:
        if self.frames:
            return Reference(self.sop_class, self.sop_instance, frames=tuple(self.frames))
        return Reference(self.sop_class, self.sop_instance,
                         segments=(int(self.segment_number or 0),))

    def add_to(self, parent: ContentItem, name: Code, where: str) -> None:
        if self.frames and self.segment_number is not None:
            raise TemplateError(f"{where}: a Referenced Segmentation Frame names frames, not "
                                "a segment number (the frame identifies its segment; PS3.3 "
                                "C.18.4 has one or the other): leave segment_number None")
        if not self.frames and (self.segment_number is None or self.segment_number < 1):
            raise TemplateError(f"{where}: segment number {self.segment_number} (segments are "
                                "numbered from 1, PS3.3 C.8.20.2)")
        if not self.source_images and self.source_series is None:
            raise TemplateError(f"{where}: a referenced segment needs its source images or "
                                "source series")
        parent.add(CONTAINS, ContentItem.image(name, self.reference()))
        for source in self.source_images:
            parent.add(CONTAINS, ContentItem.image(C.SOURCE_IMAGE_FOR_SEGMENTATION, source))
        if self.source_series is not None and not self.source_images:
            parent.add(CONTAINS, ContentItem.uidref(C.SOURCE_SERIES_FOR_SEGMENTATION,
                                                    self.source_series))

    @classmethod
    def from_parent(cls, parent: Items, name: Code, where: str) -> SegmentReference | None:
        item = optional(parent, name, "IMAGE", where)
        if item is None:
            return None
        reference = item.value
        segments = tuple(reference.segments)
        if len(segments) > 1 or (not segments and not reference.frames):
            raise TemplateError(f"{where} > IMAGE {name.meaning!r}: {len(segments)} referenced "
                                "segment numbers, the template requires one (or frames)")
        series = optional(parent, C.SOURCE_SERIES_FOR_SEGMENTATION, "UIDREF", where)
        return cls(reference.sop_instance, int(segments[0]) if segments else None,
                   [c.value for c in children(parent, C.SOURCE_IMAGE_FOR_SEGMENTATION, "IMAGE")],
                   None if series is None else str(series.value),
                   tuple(int(f) for f in reference.frames), reference.sop_class)
