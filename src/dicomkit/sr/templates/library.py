"""TID 1600 Image Library: the images a report's measurements refer to, with the descriptors of
TID 1602 (modality, frame of reference, pixel data size) and TID 1604 (the cross-sectional
geometry: pixel spacing, slice thickness, image position and orientation).

Entries are written in "Image Library Group" containers, one per (modality, frame of
reference), which carry those two descriptors for all their entries (TID 1600 row 3: HAS ACQ
CONTEXT at the group level applies to every entry of the group)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dicomkit.sr.templates.concepts as C
from dicomkit.core.dataset import Dataset
from dicomkit.iod.codes import Code
from dicomkit.sr import ContentItem, Reference
from dicomkit.sr.templates.tree import Items, children, optional
from dicomkit.sr.templates.valuesets import TemplateError, check

ACQ = "HAS ACQ CONTEXT"
MILLIMETRE = Code("mm", "UCUM", "millimeter")
PIXELS = Code("{pixels}", "UCUM", "pixels")
UNITLESS = Code("1", "UCUM", "no units")


@dataclass
class ImageLibraryEntry:
    """TID 1601: one image (an IMAGE reference) and its TID 1602/1604 descriptors."""

    reference: Reference
    modality: Code | None = None
    frame_of_reference: str | None = None
    rows: int | None = None
    columns: int | None = None
    pixel_spacing: tuple[float, float] | None = None  # (horizontal, vertical) in mm
    slice_thickness: float | None = None
    spacing_between_slices: float | None = None
    image_position: tuple[float, float, float] | None = None
    image_orientation: tuple[float, float, float, float, float, float] | None = None

    @classmethod
    def from_dataset(cls, ds: Dataset) -> ImageLibraryEntry:
        """The entry of an image instance, its descriptors taken from its attributes (PS3.16
        TID 1602/1604: Modality, Frame of Reference UID, Rows, Columns, Pixel Spacing
        (row spacing, column spacing: vertical then horizontal), Slice Thickness, Spacing
        Between Slices, Image Position/Orientation (Patient))."""
        for keyword in ("SOPClassUID", "SOPInstanceUID"):
            if not ds.get(keyword):
                raise TemplateError(f"TID 1601 Image Library Entry: the image has no {keyword}")
        modality = ds.get("Modality")
        spacing = _floats(ds.get("PixelSpacing"), 2)
        return cls(
            Reference(str(ds.SOPClassUID), str(ds.SOPInstanceUID)),
            Code(str(modality), "DCM", str(modality)) if modality else None,
            str(ds.FrameOfReferenceUID) if ds.get("FrameOfReferenceUID") else None,
            int(ds.Rows) if ds.get("Rows") is not None else None,
            int(ds.Columns) if ds.get("Columns") is not None else None,
            (spacing[1], spacing[0]) if spacing else None,
            _float(ds.get("SliceThickness")), _float(ds.get("SpacingBetweenSlices")),
            _floats(ds.get("ImagePositionPatient"), 3),  # type: ignore[arg-type]
            _floats(ds.get("ImageOrientationPatient"), 6))  # type: ignore[arg-type]

    def descriptors(self, item: ContentItem, shared: bool) -> None:
        """Add the entry's descriptors to ``item``: the shared ones (modality, frame of
        reference) when ``shared``, else the others."""
        if shared:
            if self.modality is not None:
                check("modality", self.modality, "TID 1602 Image Library Entry Descriptors")
                item.add(ACQ, ContentItem.code(C.MODALITY, self.modality))
            if self.frame_of_reference is not None:
                item.add(ACQ, ContentItem.uidref(C.FRAME_OF_REFERENCE_UID,
                                                 self.frame_of_reference))
            return
        if self.rows is not None:
            item.add(ACQ, ContentItem.num(C.PIXEL_DATA_ROWS, self.rows, PIXELS))
        if self.columns is not None:
            item.add(ACQ, ContentItem.num(C.PIXEL_DATA_COLUMNS, self.columns, PIXELS))
        if self.pixel_spacing is not None:
            item.add(ACQ, ContentItem.num(C.HORIZONTAL_PIXEL_SPACING, self.pixel_spacing[0],
                                          MILLIMETRE))
            item.add(ACQ, ContentItem.num(C.VERTICAL_PIXEL_SPACING, self.pixel_spacing[1],
                                          MILLIMETRE))
        if self.slice_thickness is not None:
            item.add(ACQ, ContentItem.num(C.SLICE_THICKNESS, self.slice_thickness, MILLIMETRE))
        if self.spacing_between_slices is not None:
            item.add(ACQ, ContentItem.num(C.SPACING_BETWEEN_SLICES,
                                          self.spacing_between_slices, MILLIMETRE))
        if self.image_position is not None:
            for name, number in zip(C.IMAGE_POSITION, self.image_position, strict=True):
                item.add(ACQ, ContentItem.num(name, number, MILLIMETRE))
        if self.image_orientation is not None:
            for name, number in zip(C.IMAGE_ORIENTATION, self.image_orientation, strict=True):
                item.add(ACQ, ContentItem.num(name, number, UNITLESS))

    @classmethod
    def from_content(cls, item: ContentItem, shared: Items, where: str) -> ImageLibraryEntry:
        """The entry of an IMAGE item, with the descriptors of its group (``shared``)."""
        def number(name: Code) -> float | None:
            found = optional(item, name, "NUM", where)
            return None if found is None else _numeric(found.value)

        def coded(name: Code) -> Code | None:
            found = optional(item, name, "CODE", where) or optional(shared, name, "CODE", where)
            return None if found is None else found.value

        def uid(name: Code) -> str | None:
            found = (optional(item, name, "UIDREF", where)
                     or optional(shared, name, "UIDREF", where))
            return None if found is None else str(found.value)

        rows, columns = number(C.PIXEL_DATA_ROWS), number(C.PIXEL_DATA_COLUMNS)
        horizontal, vertical = number(C.HORIZONTAL_PIXEL_SPACING), number(
            C.VERTICAL_PIXEL_SPACING)
        position = [number(name) for name in C.IMAGE_POSITION]
        orientation = [number(name) for name in C.IMAGE_ORIENTATION]
        return cls(
            item.value, coded(C.MODALITY), uid(C.FRAME_OF_REFERENCE_UID),
            None if rows is None else int(rows), None if columns is None else int(columns),
            None if horizontal is None or vertical is None else (horizontal, vertical),
            number(C.SLICE_THICKNESS), number(C.SPACING_BETWEEN_SLICES),
            None if None in position else tuple(position),  # type: ignore[arg-type]
            None if None in orientation else tuple(orientation))  # type: ignore[arg-type]


@dataclass
class ImageLibrary:
    """TID 1600: the entries, grouped by (modality, frame of reference) on writing."""

    entries: list[ImageLibraryEntry]

    @classmethod
    def from_datasets(cls, datasets: list[Dataset]) -> ImageLibrary:
        return cls([ImageLibraryEntry.from_dataset(ds) for ds in datasets])

    def to_content(self) -> ContentItem:
        library = ContentItem.container(C.IMAGE_LIBRARY)
        groups: dict[tuple[Any, Any], list[ImageLibraryEntry]] = {}
        for entry in self.entries:
            if not isinstance(entry, ImageLibraryEntry):
                raise TemplateError(f"TID 1600 Image Library: {entry!r} is not an "
                                    "ImageLibraryEntry")
            groups.setdefault((entry.modality, entry.frame_of_reference), []).append(entry)
        for members in groups.values():
            group = library.add("CONTAINS", ContentItem.container(C.IMAGE_LIBRARY_GROUP))
            members[0].descriptors(group, shared=True)
            for entry in members:
                image = group.add("CONTAINS", ContentItem.image(None, entry.reference))
                entry.descriptors(image, shared=False)
        return library

    @classmethod
    def from_content(cls, library: ContentItem, where: str) -> ImageLibrary:
        entries = []
        here = f"{where} > Image Library"
        for index, group in enumerate(children(library, C.IMAGE_LIBRARY_GROUP, "CONTAINER")):
            shared = [c for c in group.children if c.relationship == ACQ]
            for image in children(group, None, "IMAGE", "CONTAINS"):
                entries.append(ImageLibraryEntry.from_content(
                    image, shared, f"{here} > Image Library Group {index + 1}"))
        # TID 1600 before 2015 put the entries directly in the library.
        for image in children(library, None, "IMAGE", "CONTAINS"):
            entries.append(ImageLibraryEntry.from_content(image, [], here))
        return cls(entries)


def _numeric(value: Any) -> float:
    found = getattr(value, "float_value", None)
    return float(found if found is not None else value.value)


def _float(value: Any) -> float | None:
    try:
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None


def _floats(value: Any, count: int) -> tuple[float, ...] | None:
    if value is None:
        return None
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    try:
        numbers = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        return None
    return numbers if len(numbers) == count else None
