"""Measurement groups of TID 1500's "Imaging Measurements" container: TID 1501 Measurement and
Qualitative Evaluation Group (measurements of whole images), TID 1410 Planar ROI Measurements
and Qualitative Evaluations (a region on one image, or a segmentation frame), TID 1411
Volumetric ROI Measurements and Qualitative Evaluations (a SEG segment, a volume surface or a
set of planar regions). Each is a CONTAINER "Measurement Group" with a TID 4108 tracking
identifier and UID."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field

import dicomkit.sr.templates.concepts as C
from dicomkit.core.uid import generate_uid
from dicomkit.iod.codes import Code
from dicomkit.sr import ContentItem, Reference
from dicomkit.sr.templates.measurements import (
    AlgorithmIdentification,
    FindingSite,
    ImageRegion,
    ImageRegion3D,
    Measurement,
    QualitativeEvaluation,
    SegmentReference,
)
from dicomkit.sr.templates.tree import children, codes, optional, required, texts
from dicomkit.sr.templates.valuesets import TemplateError, check

OBS = "HAS OBS CONTEXT"
MOD = "HAS CONCEPT MOD"
CONTAINS = "CONTAINS"


@dataclass
class MeasurementGroup:
    """What TID 1501, 1410 and 1411 share; use one of the three subclasses."""

    tracking_id: str
    tracking_uid: str = field(default_factory=generate_uid)
    _: KW_ONLY
    finding_type: Code | None = None
    finding_category: Code | None = None
    method: Code | None = None
    finding_sites: list[FindingSite] = field(default_factory=list)
    session: str | None = None
    algorithm: AlgorithmIdentification | None = None
    measurements: list[Measurement] = field(default_factory=list)
    qualitative_evaluations: list[QualitativeEvaluation] = field(default_factory=list)

    TEMPLATE = ""

    def where(self, index: int = 0) -> str:
        return (f"TID {self.TEMPLATE} Measurement Group {index + 1} "
                f"(tracking id {self.tracking_id!r})")

    def to_content(self, index: int = 0) -> ContentItem:
        """The CONTAINER "Measurement Group" and its rows, in the template's order."""
        where = self.where(index)
        if not self.tracking_id or not self.tracking_uid:
            raise TemplateError(f"{where}: TID 4108 needs a tracking identifier and a "
                                "tracking unique identifier")
        check("finding_category", self.finding_category, where)
        check("group_method", self.method, where)
        group = ContentItem.container(C.MEASUREMENT_GROUP, template=self.TEMPLATE)
        group.add(OBS, ContentItem.text(C.TRACKING_IDENTIFIER, self.tracking_id))
        group.add(OBS, ContentItem.uidref(C.TRACKING_UID, self.tracking_uid))
        if self.session is not None:
            group.add(OBS, ContentItem.text(C.ACTIVITY_SESSION, self.session))
        if self.finding_category is not None:
            group.add(CONTAINS, ContentItem.code(C.FINDING_CATEGORY, self.finding_category))
        if self.finding_type is not None:
            group.add(CONTAINS, ContentItem.code(C.FINDING, self.finding_type))
        if self.method is not None:
            group.add(CONTAINS, ContentItem.code(C.MEASUREMENT_METHOD, self.method))
        for site in self.finding_sites:
            site.add_to(group, where)
        if self.algorithm is not None:
            self.algorithm.add_to(group)
        self.add_references(group, where)
        for measurement in self.measurements:
            if not isinstance(measurement, Measurement):
                raise TemplateError(f"{where}: {measurement!r} is not a Measurement")
            group.add(CONTAINS, measurement.to_content(where))
        for evaluation in self.qualitative_evaluations:
            group.add(CONTAINS, ContentItem.code(evaluation.name, evaluation.value))
        return group

    def add_references(self, group: ContentItem, where: str) -> None:
        """The rows naming what was measured (each template its own)."""

    @staticmethod
    def common(group: ContentItem, where: str) -> dict[str, object]:
        """The keyword arguments of the shared rows, read from a "Measurement Group"."""
        tracking_id = texts(group, C.TRACKING_IDENTIFIER)
        tracking_uid = required(group, C.TRACKING_UID, "UIDREF", where)
        session = texts(group, C.ACTIVITY_SESSION)
        category = codes(group, C.FINDING_CATEGORY)
        finding = codes(group, C.FINDING)
        method = [c.value for c in children(group, C.MEASUREMENT_METHOD, "CODE", CONTAINS)]
        known = {C.FINDING_CATEGORY, C.FINDING, C.MEASUREMENT_METHOD, C.GEOMETRIC_PURPOSE}
        measurements = [Measurement.from_content(item, where)
                        for item in children(group, None, "NUM", CONTAINS)]
        evaluations = [QualitativeEvaluation(item.concept_name, item.value)
                       for item in children(group, None, "CODE", CONTAINS)
                       if item.concept_name is not None
                       and not any(C.same(item.concept_name, k) for k in known)]
        return dict(tracking_id=tracking_id[0] if tracking_id else "",
                    tracking_uid=str(tracking_uid.value),
                    finding_type=finding[0] if finding else None,
                    finding_category=category[0] if category else None,
                    method=method[0] if method else None,
                    finding_sites=FindingSite.all_in(group),
                    session=session[0] if session else None,
                    algorithm=AlgorithmIdentification.from_parent(group, where),
                    measurements=measurements,
                    qualitative_evaluations=evaluations)


@dataclass(kw_only=True)
class MeasurementsAndQualitativeEvaluations(MeasurementGroup):
    """TID 1501: measurements of images as a whole (no region), optionally naming the source
    images (CONTAINS IMAGE "Source of Measurement")."""

    source_images: list[Reference] = field(default_factory=list)

    TEMPLATE = "1501"

    def add_references(self, group: ContentItem, where: str) -> None:
        for source in self.source_images:
            group.add(CONTAINS, ContentItem.image(C.SOURCE_OF_MEASUREMENT, source))

    @classmethod
    def from_content(cls, group: ContentItem, where: str
                     ) -> MeasurementsAndQualitativeEvaluations:
        return cls(**cls.common(group, where),  # type: ignore[arg-type]
                   source_images=[c.value for c in children(group, C.SOURCE_OF_MEASUREMENT,
                                                            "IMAGE", CONTAINS)])


@dataclass(kw_only=True)
class PlanarROIMeasurements(MeasurementGroup):
    """TID 1410: measurements of one planar region, given as exactly one of
    ``referenced_region`` (an SCOORD on an image, or an SCOORD3D region) or
    ``referenced_segment`` (a segmentation frame: a :class:`SegmentReference` with frames)."""

    referenced_region: ImageRegion | ImageRegion3D | None = None
    referenced_segment: SegmentReference | None = None
    geometric_purpose: Code | None = None

    TEMPLATE = "1410"

    def add_references(self, group: ContentItem, where: str) -> None:
        given = [r for r in (self.referenced_region, self.referenced_segment) if r is not None]
        if len(given) != 1:
            raise TemplateError(f"{where}: TID 1410 needs exactly one of an image region or a "
                                f"referenced segmentation frame, got {len(given)}")
        check("geometric_purpose", self.geometric_purpose, where)
        if self.geometric_purpose is not None:
            group.add(CONTAINS, ContentItem.code(C.GEOMETRIC_PURPOSE, self.geometric_purpose))
        if self.referenced_region is not None:
            self.referenced_region.add_to(group)
        elif self.referenced_segment is not None:
            if not self.referenced_segment.frames:
                raise TemplateError(f"{where}: a Referenced Segmentation Frame names its "
                                    "frame(s) (SegmentReference.frames)")
            self.referenced_segment.add_to(group, C.REFERENCED_SEGMENTATION_FRAME, where)

    @classmethod
    def from_content(cls, group: ContentItem, where: str) -> PlanarROIMeasurements:
        region: ImageRegion | ImageRegion3D | None = None
        planar = children(group, C.IMAGE_REGION, "SCOORD", CONTAINS)
        spatial = children(group, C.IMAGE_REGION, "SCOORD3D", CONTAINS)
        if len(planar) + len(spatial) > 1:
            raise TemplateError(f"{where}: TID 1410 has one Image Region, found "
                                f"{len(planar) + len(spatial)}")
        if planar:
            region = ImageRegion.from_content(planar[0], where)
        elif spatial:
            region = ImageRegion3D.from_content(spatial[0])
        segment = SegmentReference.from_parent(group, C.REFERENCED_SEGMENTATION_FRAME, where)
        if (region is None) == (segment is None):
            raise TemplateError(f"{where}: TID 1410 needs exactly one Image Region or "
                                "Referenced Segmentation Frame")
        purpose = optional(group, C.GEOMETRIC_PURPOSE, "CODE", where)
        return cls(**cls.common(group, where),  # type: ignore[arg-type]
                   referenced_region=region, referenced_segment=segment,
                   geometric_purpose=None if purpose is None else purpose.value)


@dataclass(kw_only=True)
class VolumetricROIMeasurements(MeasurementGroup):
    """TID 1411: measurements of a volume, given as exactly one of ``referenced_segment`` (a
    whole SEG segment), ``referenced_regions`` (planar regions on several images) or
    ``volume_surface`` (an SCOORD3D surface)."""

    referenced_segment: SegmentReference | None = None
    referenced_regions: list[ImageRegion] = field(default_factory=list)
    volume_surface: ImageRegion3D | None = None
    geometric_purpose: Code | None = None

    TEMPLATE = "1411"

    def add_references(self, group: ContentItem, where: str) -> None:
        given = sum([self.referenced_segment is not None, bool(self.referenced_regions),
                     self.volume_surface is not None])
        if given != 1:
            raise TemplateError(f"{where}: TID 1411 needs exactly one of a referenced segment, "
                                f"image regions or a volume surface, got {given}")
        check("geometric_purpose", self.geometric_purpose, where)
        if self.geometric_purpose is not None:
            group.add(CONTAINS, ContentItem.code(C.GEOMETRIC_PURPOSE, self.geometric_purpose))
        for region in self.referenced_regions:
            region.add_to(group)
        if self.volume_surface is not None:
            self.volume_surface.add_to(group, C.VOLUME_SURFACE)
        if self.referenced_segment is not None:
            if self.referenced_segment.frames:
                raise TemplateError(f"{where}: TID 1411 references a whole segment; frames "
                                    "belong to TID 1410 (PlanarROIMeasurements)")
            self.referenced_segment.add_to(group, C.REFERENCED_SEGMENT, where)

    @classmethod
    def from_content(cls, group: ContentItem, where: str) -> VolumetricROIMeasurements:
        regions = [ImageRegion.from_content(item, where)
                   for item in children(group, C.IMAGE_REGION, "SCOORD", CONTAINS)]
        surface = optional(group, C.VOLUME_SURFACE, "SCOORD3D", where)
        segment = SegmentReference.from_parent(group, C.REFERENCED_SEGMENT, where)
        purpose = optional(group, C.GEOMETRIC_PURPOSE, "CODE", where)
        return cls(**cls.common(group, where),  # type: ignore[arg-type]
                   referenced_segment=segment, referenced_regions=regions,
                   volume_surface=None if surface is None else ImageRegion3D.from_content(surface),
                   geometric_purpose=None if purpose is None else purpose.value)


GROUPS: dict[str, type[MeasurementGroup]] = {
    "1501": MeasurementsAndQualitativeEvaluations,
    "1410": PlanarROIMeasurements,
    "1411": VolumetricROIMeasurements,
}


def read_group(group: ContentItem, where: str) -> MeasurementGroup:
    """The measurement group object of a CONTAINER "Measurement Group", by its template
    identifier or, when it has none, by what it references."""
    template = str(group.template or "").strip()
    if not template:
        if children(group, C.REFERENCED_SEGMENT, "IMAGE") or children(
                group, C.VOLUME_SURFACE, "SCOORD3D") or len(
                children(group, C.IMAGE_REGION, "SCOORD")) > 1:
            template = "1411"
        elif children(group, C.IMAGE_REGION) or children(
                group, C.REFERENCED_SEGMENTATION_FRAME, "IMAGE"):
            template = "1410"
        else:
            template = "1501"
    kind = GROUPS.get(template)
    if kind is None:
        raise TemplateError(f"{where}: Measurement Group of template {template}, not one of "
                            "TID 1501, 1410, 1411")
    return kind.from_content(group, f"{where} (TID {template})")  # type: ignore[attr-defined]
