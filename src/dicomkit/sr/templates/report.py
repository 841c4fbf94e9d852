"""TID 1500 Measurement Report (PS3.16 Annex A): the root CONTAINER titled from DCID 7021, its
language (TID 1204), observation context (TID 1001), procedure reported (BCID 100), image
library (TID 1600) and the "Imaging Measurements" container of measurement groups (TID 1501,
1410, 1411), plus report-level qualitative evaluations.

``MeasurementReport(...).to_content()`` builds the content tree; ``.to_dataset(like=...)``
makes the SR instance (Comprehensive SR, or Comprehensive 3D SR when a group holds SCOORD3D);
``MeasurementReport.from_content(root)`` and :func:`read_measurement_report` parse one back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import dicomkit.sr.templates.concepts as C
from dicomkit.core.dataset import Dataset
from dicomkit.iod.codes import Code
from dicomkit.sr import ContentItem, document, read
from dicomkit.sr.templates.context import (
    Language,
    Observer,
    SubjectContext,
    add_observation_context,
    read_observation_context,
)
from dicomkit.sr.templates.groups import (
    MeasurementGroup,
    PlanarROIMeasurements,
    VolumetricROIMeasurements,
    read_group,
)
from dicomkit.sr.templates.library import ImageLibrary
from dicomkit.sr.templates.measurements import ImageRegion3D, QualitativeEvaluation
from dicomkit.sr.templates.tree import children, codes, optional
from dicomkit.sr.templates.valuesets import TemplateError, check

WHERE = "TID 1500 Measurement Report"


@dataclass
class MeasurementReport:
    """A TID 1500 Measurement Report as Python objects."""

    observers: list[Observer] = field(default_factory=list)
    procedure_reported: list[Code] = field(default_factory=list)
    imaging_measurements: list[MeasurementGroup] = field(default_factory=list)
    image_library: ImageLibrary | None = None
    subject: SubjectContext | None = None
    title: Code = C.IMAGING_MEASUREMENT_REPORT
    language: Language | None = field(default_factory=Language)
    qualitative_evaluations: list[QualitativeEvaluation] = field(default_factory=list)

    def __post_init__(self) -> None:
        if isinstance(self.procedure_reported, Code):
            self.procedure_reported = [self.procedure_reported]

    def to_content(self) -> ContentItem:
        """The content tree (the root CONTAINER); TemplateError naming the template row for
        what breaks the template."""
        check("report_title", self.title, WHERE)
        if not self.procedure_reported:
            raise TemplateError(f"{WHERE} row 'Procedure reported': at least one procedure "
                                "code is required (BCID 100)")
        if not self.observers:
            raise TemplateError(f"{WHERE} row 'Observation Context' (TID 1001): at least one "
                                "observer (TID 1002) is required")
        root = ContentItem.container(self.title, template="1500")
        if self.language is not None:
            self.language.add_to(root)
        add_observation_context(root, list(self.observers), self.subject)
        for procedure in self.procedure_reported:
            check("procedure_reported", procedure, WHERE)
            root.add("HAS CONCEPT MOD", ContentItem.code(C.PROCEDURE_REPORTED, procedure))
        if self.image_library is not None:
            root.add("CONTAINS", self.image_library.to_content())
        if not self.imaging_measurements and not self.qualitative_evaluations:
            raise TemplateError(f"{WHERE}: no imaging measurements and no qualitative "
                                "evaluations (rows 'Imaging Measurements' and 'Qualitative "
                                "Evaluations' are MC: one of them is required)")
        if self.imaging_measurements:
            container = root.add("CONTAINS", ContentItem.container(C.IMAGING_MEASUREMENTS))
            for index, group in enumerate(self.imaging_measurements):
                if not isinstance(group, MeasurementGroup) or type(group) is MeasurementGroup:
                    raise TemplateError(
                        f"{WHERE} > Imaging Measurements item {index + 1}: {group!r} is not "
                        "a PlanarROIMeasurements, VolumetricROIMeasurements or "
                        "MeasurementsAndQualitativeEvaluations")
                container.add("CONTAINS", group.to_content(index))
        if self.qualitative_evaluations:
            container = root.add("CONTAINS", ContentItem.container(C.QUALITATIVE_EVALUATIONS))
            for evaluation in self.qualitative_evaluations:
                container.add("CONTAINS", ContentItem.code(evaluation.name, evaluation.value))
        return root

    def iod(self) -> str:
        """Comprehensive 3D SR when a group holds an SCOORD3D region, else Comprehensive SR
        (PS3.3 A.35.3: Comprehensive SR has no SCOORD3D)."""
        for group in self.imaging_measurements:
            if isinstance(group, PlanarROIMeasurements) and isinstance(
                    group.referenced_region, ImageRegion3D):
                return "Comprehensive 3D"
            if isinstance(group, VolumetricROIMeasurements) and group.volume_surface is not None:
                return "Comprehensive 3D"
        return "Comprehensive"

    def to_dataset(self, **options: Any) -> Dataset:
        """The SR instance: :func:`dicomkit.sr.document` with this report's content tree and
        IOD; ``options`` are document()'s (``like=``, ``evidence=``, ``series_uid=``...)."""
        options.setdefault("iod", self.iod())
        return document(self.to_content(), **options)

    @classmethod
    def from_content(cls, root: ContentItem) -> MeasurementReport:
        """The report of a TID 1500 content tree; TemplateError naming the place when the tree
        is not one."""
        if root.value_type != "CONTAINER" or root.concept_name is None:
            raise TemplateError(f"{WHERE}: the root is {root.value_type}, not a titled "
                                "CONTAINER")
        template = str(root.template or "").strip()
        if template and template != "1500":
            raise TemplateError(f"{WHERE}: the root follows TID {template}, not TID 1500")
        title = root.concept_name
        language = Language.from_parent(root, WHERE)
        observers, subject = read_observation_context(root, WHERE)
        procedures = codes(root, C.PROCEDURE_REPORTED)
        library_item = optional(root, C.IMAGE_LIBRARY, "CONTAINER", WHERE)
        library = (None if library_item is None
                   else ImageLibrary.from_content(library_item, WHERE))
        groups: list[MeasurementGroup] = []
        measurements = optional(root, C.IMAGING_MEASUREMENTS, "CONTAINER", WHERE)
        if measurements is not None:
            for index, group in enumerate(children(measurements, C.MEASUREMENT_GROUP,
                                                   "CONTAINER")):
                groups.append(read_group(group, f"{WHERE} > Imaging Measurements > "
                                                f"Measurement Group {index + 1}"))
        evaluations: list[QualitativeEvaluation] = []
        qualitative = optional(root, C.QUALITATIVE_EVALUATIONS, "CONTAINER", WHERE)
        if qualitative is not None:
            evaluations = [QualitativeEvaluation(item.concept_name, item.value)
                           for item in children(qualitative, None, "CODE")
                           if item.concept_name is not None]
        return cls(observers, procedures, groups, library, subject, title, language,
                   evaluations)

    @classmethod
    def from_dataset(cls, source: Dataset | str | os.PathLike[str]) -> MeasurementReport:
        return cls.from_content(read(source))


def read_measurement_report(source: Dataset | str | os.PathLike[str]) -> MeasurementReport:
    """The TID 1500 report of an SR file (or data set)."""
    return MeasurementReport.from_dataset(source)
