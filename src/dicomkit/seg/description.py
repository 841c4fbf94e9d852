"""What a segment is: the Segment Description macro (PS3.3 Table 10-25 in C.8.20.2 Segmentation
Image Module, Segment Sequence) and the Algorithm Identification macro (PS3.3 Table 10-19).

The codes come from PS3.16 context groups (:mod:`dicomkit.iod.codes`): segmented property
category from CID 7150, type from CID 7151 (or the anatomic groups such as CID 4031), algorithm
family from CID 7162. Those groups are *baseline* in the IOD, so other codes are allowed and are
not refused here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dicomkit.core.dataset import Dataset
from dicomkit.iod.codes import Code, CodeError
from dicomkit.seg.errors import SegmentationError

ALGORITHM_TYPES = ("AUTOMATIC", "SEMIAUTOMATIC", "MANUAL")
"""Segment Algorithm Type (0062,0008) enumerated values (PS3.3 C.8.20.2.3)."""

MAX_LO = 64
"""LO holds at most 64 characters (PS3.5 Table 6.2-1)."""


@dataclass(frozen=True)
class AlgorithmIdentification:
    """The algorithm that made a segment (PS3.3 Table 10-19, Algorithm Identification macro)."""

    name: str
    version: str
    family: Code
    source: str | None = None
    parameters: str | None = None

    def to_dataset(self) -> Dataset:
        item = Dataset()
        item.AlgorithmFamilyCodeSequence = [self.family.to_dataset()]
        item.AlgorithmName = self.name
        item.AlgorithmVersion = self.version
        if self.parameters:
            item.AlgorithmParameters = self.parameters
        if self.source:
            item.AlgorithmSource = self.source
        return item

    @classmethod
    def from_dataset(cls, item: Dataset, where: str) -> AlgorithmIdentification:
        family = _code(item, "AlgorithmFamilyCodeSequence", where)
        if family is None:
            raise SegmentationError(f"{where}: no Algorithm Family Code Sequence")
        return cls(str(item.get("AlgorithmName") or ""), str(item.get("AlgorithmVersion") or ""),
                   family, _text(item, "AlgorithmSource"), _text(item, "AlgorithmParameters"))


@dataclass(frozen=True)
class SegmentDescription:
    """One segment: its number (1..n), label, what it shows (category and type codes), how it
    was made and how to show it."""

    number: int
    label: str
    category: Code
    type: Code
    algorithm_type: str = "MANUAL"
    algorithm: AlgorithmIdentification | None = None
    anatomic_regions: tuple[Code, ...] = ()
    tracking_id: str | None = None
    tracking_uid: str | None = None
    recommended_display_cielab: tuple[int, int, int] | None = None
    description: str | None = None
    type_modifiers: tuple[Code, ...] = field(default=())

    def check(self) -> None:
        """Refuse a description the Segment Description macro does not allow."""
        where = f"segment {self.number}"
        if not isinstance(self.number, int) or not 1 <= self.number <= 0xFFFF:
            raise SegmentationError(f"{where}: Segment Number must be 1..65535")
        if not self.label or len(self.label) > MAX_LO:
            raise SegmentationError(f"{where}: Segment Label must be 1 to {MAX_LO} characters")
        if not isinstance(self.category, Code) or not isinstance(self.type, Code):
            raise SegmentationError(f"{where}: category and type must be Code objects")
        if self.algorithm_type not in ALGORITHM_TYPES:
            raise SegmentationError(f"{where}: Segment Algorithm Type {self.algorithm_type!r} "
                                    f"is not one of {', '.join(ALGORITHM_TYPES)}")
        if self.algorithm_type != "MANUAL" and self.algorithm is None:
            raise SegmentationError(f"{where}: an {self.algorithm_type} segment needs its "
                                    "algorithm (AlgorithmIdentification), PS3.3 C.8.20.2")
        if bool(self.tracking_id) != bool(self.tracking_uid):
            raise SegmentationError(f"{where}: Tracking ID and Tracking UID go together")
        lab = self.recommended_display_cielab
        if lab is not None and (len(lab) != 3 or not all(0 <= int(v) <= 0xFFFF for v in lab)):
            raise SegmentationError(f"{where}: Recommended Display CIELab Value must be three "
                                    "numbers 0..65535 (PS3.3 C.10.7.1.1)")

    def to_dataset(self) -> Dataset:
        """The Segment Sequence item (PS3.3 Table 10-25)."""
        self.check()
        item = Dataset()
        item.SegmentNumber = self.number
        item.SegmentLabel = self.label
        if self.description:
            item.SegmentDescription = self.description
        item.SegmentAlgorithmType = self.algorithm_type
        if self.algorithm is not None:
            item.SegmentationAlgorithmIdentificationSequence = [self.algorithm.to_dataset()]
            item.SegmentAlgorithmName = self.algorithm.name
        item.SegmentedPropertyCategoryCodeSequence = [self.category.to_dataset()]
        type_item = self.type.to_dataset()
        if self.type_modifiers:
            type_item.SegmentedPropertyTypeModifierCodeSequence = [
                code.to_dataset() for code in self.type_modifiers]
        item.SegmentedPropertyTypeCodeSequence = [type_item]
        if self.anatomic_regions:
            item.AnatomicRegionSequence = [code.to_dataset() for code in self.anatomic_regions]
        if self.tracking_id and self.tracking_uid:
            item.TrackingID = self.tracking_id
            item.TrackingUID = self.tracking_uid
        if self.recommended_display_cielab is not None:
            item.set("RecommendedDisplayCIELabValue",
                     [int(v) for v in self.recommended_display_cielab], "US")
        return item

    @classmethod
    def from_dataset(cls, item: Dataset) -> SegmentDescription:
        """Read a Segment Sequence item; :class:`SegmentationError` naming the segment when a
        required part is missing."""
        value = item.get("SegmentNumber")
        if isinstance(value, list):
            value = value[0] if len(value) == 1 else None
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise SegmentationError("a Segment Sequence item has no Segment Number") from None
        where = f"segment {number}"
        category = _code(item, "SegmentedPropertyCategoryCodeSequence", where)
        type_code = _code(item, "SegmentedPropertyTypeCodeSequence", where)
        if category is None or type_code is None:
            raise SegmentationError(f"{where}: no Segmented Property Category or Type Code "
                                    "Sequence")
        type_items = item.get("SegmentedPropertyTypeCodeSequence")
        modifiers = tuple(_codes(type_items[0], "SegmentedPropertyTypeModifierCodeSequence",
                                 where))
        algorithms = item.get("SegmentationAlgorithmIdentificationSequence")
        algorithm = (AlgorithmIdentification.from_dataset(algorithms[0], where)
                     if algorithms else None)
        lab = item.get("RecommendedDisplayCIELabValue")
        return cls(
            number=number, label=str(item.get("SegmentLabel") or ""), category=category,
            type=type_code, algorithm_type=str(item.get("SegmentAlgorithmType") or "MANUAL"),
            algorithm=algorithm,
            anatomic_regions=tuple(_codes(item, "AnatomicRegionSequence", where)),
            tracking_id=_text(item, "TrackingID"), tracking_uid=_text(item, "TrackingUID"),
            recommended_display_cielab=(int(lab[0]), int(lab[1]), int(lab[2]))
            if lab is not None and len(lab) == 3 else None,
            description=_text(item, "SegmentDescription"), type_modifiers=modifiers)


def _text(item: Dataset, keyword: str) -> str | None:
    value = item.get(keyword)
    return str(value) if value else None


def _codes(item: Dataset, keyword: str, where: str) -> list[Code]:
    try:
        return [Code.from_dataset(code, f"{where}: {keyword}")
                for code in item.get(keyword) or []]
    except CodeError as exc:
        raise SegmentationError(str(exc)) from None


def _code(item: Dataset, keyword: str, where: str) -> Code | None:
    codes = _codes(item, keyword, where)
    return codes[0] if codes else None
