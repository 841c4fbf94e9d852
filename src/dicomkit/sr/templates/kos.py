"""TID 2010 Key Object Selection (PS3.16 Annex A) in the Key Object Selection Document IOD
(PS3.3 A.35.4): a title from DCID 7010 ("Of Interest", "For Teaching", "Rejected for Quality
Reasons", ...), optional title modifiers, language (TID 1204), observers (TID 1002), an
optional "Key Object Description" text, and the selected instances as IMAGE, WAVEFORM or
COMPOSITE items; every selected instance is listed, with its study and series, in the Current
Requested Procedure Evidence Sequence (PS3.3 C.17.6.2.1)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import dicomkit.sr.templates.concepts as C
from dicomkit.core.dataset import Dataset
from dicomkit.iod.codes import Code, cid
from dicomkit.sr import ContentItem, Reference, document, load, read
from dicomkit.sr.templates.context import (
    Language,
    Observer,
    add_observation_context,
    read_observation_context,
)
from dicomkit.sr.templates.tree import children, codes, texts
from dicomkit.sr.templates.valuesets import TemplateError, check

WHERE = "TID 2010 Key Object Selection"
REFERENCE_TYPES = ("IMAGE", "WAVEFORM", "COMPOSITE")
OF_INTEREST = cid(7010).by_keyword("OfInterest")


@dataclass(frozen=True)
class KeyObject:
    """One selected instance: its SOP class and instance, study and series (for the evidence
    sequence), optional frames, and the value type it is referenced with (IMAGE for images,
    WAVEFORM for waveforms, COMPOSITE for anything else)."""

    sop_class: str
    sop_instance: str
    study_uid: str
    series_uid: str
    frames: tuple[int, ...] = ()
    value_type: str = "IMAGE"

    def __post_init__(self) -> None:
        if self.value_type not in REFERENCE_TYPES:
            raise TemplateError(f"{WHERE}: a key object is referenced as IMAGE, WAVEFORM or "
                                f"COMPOSITE, not {self.value_type!r}")
        object.__setattr__(self, "frames", tuple(int(f) for f in self.frames))

    @classmethod
    def from_dataset(cls, ds: Dataset, frames: tuple[int, ...] = ()) -> KeyObject:
        """The key object of an instance; IMAGE when it has pixel data (Rows), WAVEFORM when
        it has a Waveform Sequence, else COMPOSITE."""
        uids = []
        for keyword in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID",
                        "SeriesInstanceUID"):
            found = ds.get(keyword)
            if not found:
                raise TemplateError(f"{WHERE}: the selected instance has no {keyword}")
            uids.append(str(found))
        kind = ("IMAGE" if ds.get("Rows") is not None
                else "WAVEFORM" if ds.get("WaveformSequence") is not None else "COMPOSITE")
        return cls(uids[0], uids[1], uids[2], uids[3], tuple(frames), kind)

    def reference(self) -> Reference:
        return Reference(self.sop_class, self.sop_instance, frames=self.frames)

    def evidence(self) -> Dataset:
        item = Dataset()
        item.StudyInstanceUID = self.study_uid
        item.SeriesInstanceUID = self.series_uid
        item.SOPClassUID = self.sop_class
        item.SOPInstanceUID = self.sop_instance
        return item


@dataclass
class KeyObjectSelection:
    """A Key Object Selection document as Python objects."""

    objects: list[KeyObject]
    title: Code = OF_INTEREST
    description: str | None = None
    observers: list[Observer] = field(default_factory=list)
    title_modifiers: list[Code] = field(default_factory=list)
    language: Language | None = None

    def to_content(self) -> ContentItem:
        check("kos_title", self.title, WHERE)
        if not self.objects:
            raise TemplateError(f"{WHERE}: no selected instances (the IMAGE, WAVEFORM and "
                                "COMPOSITE rows are 1-n; one is required)")
        root = ContentItem.container(self.title, template="2010")
        for modifier in self.title_modifiers:
            root.add("HAS CONCEPT MOD", ContentItem.code(C.DOCUMENT_TITLE_MODIFIER, modifier))
        if self.language is not None:
            self.language.add_to(root)
        add_observation_context(root, list(self.observers), None)
        if self.description is not None:
            root.add("CONTAINS", ContentItem.text(C.KEY_OBJECT_DESCRIPTION, self.description))
        for index, key in enumerate(self.objects):
            if not isinstance(key, KeyObject):
                raise TemplateError(f"{WHERE}: selected instance {index + 1} ({key!r}) is not "
                                    "a KeyObject (KeyObject.from_dataset(ds) makes one)")
            builder = {"IMAGE": ContentItem.image, "WAVEFORM": ContentItem.waveform,
                       "COMPOSITE": ContentItem.composite}[key.value_type]
            root.add("CONTAINS", builder(None, key.reference()))
        return root

    def to_dataset(self, **options: Any) -> Dataset:
        """The Key Object Selection Document instance (:func:`dicomkit.sr.document` with
        ``iod="Key Object Selection"`` and the evidence made from the key objects)."""
        options.setdefault("evidence", [key.evidence() for key in self.objects])
        return document(self.to_content(), iod="Key Object Selection", **options)

    @classmethod
    def from_content(cls, root: ContentItem, evidence: Dataset | None = None
                     ) -> KeyObjectSelection:
        """The document of a TID 2010 content tree; the study and series of each selected
        instance come from ``evidence`` (the data set's Current Requested Procedure Evidence
        Sequence), empty when it is not given."""
        if root.value_type != "CONTAINER" or root.concept_name is None:
            raise TemplateError(f"{WHERE}: the root is {root.value_type}, not a titled "
                                "CONTAINER")
        places = _places(evidence)
        objects = []
        for index, item in enumerate(c for c in root.children
                                     if c.relationship == "CONTAINS"
                                     and c.value_type in REFERENCE_TYPES):
            reference: Reference = item.value
            study, series = places.get(reference.sop_instance, ("", ""))
            if evidence is not None and not study:
                raise TemplateError(f"{WHERE} > {item.value_type} {index + 1}: SOP instance "
                                    f"{reference.sop_instance} is not in the Current Requested "
                                    "Procedure Evidence Sequence (PS3.3 C.17.6.2.1)")
            objects.append(KeyObject(reference.sop_class, reference.sop_instance, study,
                                     series, reference.frames, item.value_type))
        description = texts(children(root, None, None, "CONTAINS"), C.KEY_OBJECT_DESCRIPTION)
        observers, _subject = read_observation_context(root, WHERE)
        return cls(objects, root.concept_name, description[0] if description else None,
                   observers, codes(root, C.DOCUMENT_TITLE_MODIFIER),
                   Language.from_parent(root, WHERE))

    @classmethod
    def from_dataset(cls, source: Dataset | str | os.PathLike[str]) -> KeyObjectSelection:
        ds = load(source)
        return cls.from_content(read(ds), ds)


def read_key_object_selection(source: Dataset | str | os.PathLike[str]) -> KeyObjectSelection:
    """The TID 2010 document of a Key Object Selection file (or data set)."""
    return KeyObjectSelection.from_dataset(source)


def _places(evidence: Dataset | None) -> dict[str, tuple[str, str]]:
    """SOP instance UID -> (study, series) from the evidence sequences of ``evidence``."""
    places: dict[str, tuple[str, str]] = {}
    if evidence is None:
        return places
    for keyword in ("CurrentRequestedProcedureEvidenceSequence",
                    "PertinentOtherEvidenceSequence"):
        for study in evidence.get(keyword) or []:
            for series in study.get("ReferencedSeriesSequence") or []:
                for sop in series.get("ReferencedSOPSequence") or []:
                    places[str(sop.get("ReferencedSOPInstanceUID") or "")] = (
                        str(study.get("StudyInstanceUID") or ""),
                        str(series.get("SeriesInstanceUID") or ""))
    return places
