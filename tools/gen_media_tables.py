"""Generate the tables of src/dicomkit/media/data/ from ../shared/dicom-standard/.

- ``record_keys.tsv``: the keys each Directory Record Type carries (PS3.3 F.5), one row per
  (record type, attribute) with its Type, from dicom3tools' ``module/file.tpl`` (the
  ``*DirectoryRecord`` macros the Basic Directory IOD invokes by Directory Record Type, with the
  macros they invoke at their top level expanded from ``dicom3tools_module_attributes_2024.tsv``).
  Record types newer than that template (PS3.3 F.5.38 onwards: MEASUREMENT, SURFACE SCAN, TRACT,
  ASSESSMENT, RADIOTHERAPY, PLAN, ANNOTATION, and the single-level PALETTE and IMPLANT records)
  get the keys of ``EXTRA`` below, cited to their F.5 section.
- ``sop_record_types.tsv``: the Directory Record Type a Storage SOP Class goes into (the
  record whose F.5 definition names that IOD), for every Storage SOP Class of the UID registry,
  by the rules of ``record_type_for`` below. The media package adds the two content rules of
  F.5 that no SOP Class decides (RADIOTHERAPY by Modality, RT PLAN by RT Plan Label).
"""

from __future__ import annotations

import argparse
import csv
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STANDARD = Path("/work/shared/dicom-standard")
OUT = ROOT / "src" / "dicomkit" / "media" / "data"

# PS3.3 F.5: keys of the record types the dicom3tools template does not define (Type 1 and 2
# keys; Specific Character Set 1C as for all records).
EXTRA: dict[str, list[tuple[str, str]]] = {
    # F.5.38 Measurement, F.5.39 Surface Scan, F.5.40 Tract, F.5.41 Assessment: content
    # date/time and the Content Identification Macro (F.5.38-1 … F.5.41-1).
    "MEASUREMENT": [("ContentDate", "1"), ("ContentTime", "1"), ("InstanceNumber", "1"),
                    ("ContentLabel", "1"), ("ContentDescription", "2"),
                    ("ContentCreatorName", "2")],
    "SURFACE SCAN": [("ContentDate", "1"), ("ContentTime", "1"), ("InstanceNumber", "1"),
                     ("ContentLabel", "1"), ("ContentDescription", "2"),
                     ("ContentCreatorName", "2")],
    "TRACT": [("ContentDate", "1"), ("ContentTime", "1"), ("InstanceNumber", "1"),
              ("ContentLabel", "1"), ("ContentDescription", "2"), ("ContentCreatorName", "2")],
    "ASSESSMENT": [("InstanceNumber", "1"), ("InstanceCreationDate", "1"),
                   ("InstanceCreationTime", "2")],
    # F.5.42 Radiotherapy, F.5.43 Annotation.
    "RADIOTHERAPY": [("InstanceNumber", "1"), ("UserContentLabel", "2"),
                     ("UserContentLongLabel", "3"), ("ContentDescription", "2"),
                     ("ContentCreatorName", "2")],
    "ANNOTATION": [("InstanceNumber", "1"), ("ContentDate", "1"), ("ContentTime", "1"),
                   ("ContentLabel", "1"), ("ContentDescription", "2")],
    # F.5.31 Palette, F.5.32-34 Implant, Implant Assembly, Implant Group (single level).
    "PALETTE": [("ContentLabel", "1"), ("ContentDescription", "2")],
    "IMPLANT": [("Manufacturer", "1"), ("ImplantName", "1"), ("ImplantSize", "1C"),
                ("ImplantPartNumber", "1")],
    "IMPLANT ASSY": [("ImplantAssemblyTemplateName", "1"), ("Manufacturer", "1"),
                     ("ProcedureTypeCodeSequence", "1")],
    "IMPLANT GROUP": [("ImplantTemplateGroupName", "1"), ("ImplantTemplateGroupIssuer", "1")],
}

# The rules of record_type_for, in order: (keyword pattern, record type).
RULES: list[tuple[str, str]] = [
    (r"HangingProtocolStorage", "HANGING PROTOCOL"),
    (r"ColorPaletteStorage", "PALETTE"),
    (r"GenericImplantTemplateStorage", "IMPLANT"),
    (r"ImplantAssemblyTemplateStorage", "IMPLANT ASSY"),
    (r"ImplantTemplateGroupStorage", "IMPLANT GROUP"),
    (r"RTDoseStorage", "RT DOSE"),
    (r"RTStructureSetStorage", "RT STRUCTURE SET"),
    (r"RT.*TreatmentRecordStorage|RTTreatmentSummaryRecordStorage", "RT TREAT RECORD"),
    (r"(RT|RTIon)PlanStorage", "RT PLAN"),
    (r".*PresentationStateStorage|BasicStructuredDisplayStorage", "PRESENTATION"),
    (r".*WaveformStorage", "WAVEFORM"),
    (r"KeyObjectSelectionDocumentStorage", "KEY OBJECT DOC"),
    (r".*SRStorage|ProcedureLogStorage|SpectaclePrescriptionReportStorage"
     r"|MacularGridThicknessAndVolumeReportStorage", "SR DOCUMENT"),
    (r"MRSpectroscopyStorage", "SPECTROSCOPY"),
    (r"RawDataStorage", "RAW DATA"),
    (r"(Deformable)?SpatialRegistrationStorage", "REGISTRATION"),
    (r"SpatialFiducialsStorage", "FIDUCIAL"),
    (r"RealWorldValueMappingStorage", "VALUE MAP"),
    (r"StereometricRelationshipStorage", "STEREOMETRIC"),
    (r".*MeasurementsStorage", "MEASUREMENT"),
    (r"SurfaceSegmentationStorage", "SURFACE"),
    (r"SurfaceScan.*Storage", "SURFACE SCAN"),
    (r"TractographyResultsStorage", "TRACT"),
    (r"ContentAssessmentResultsStorage", "ASSESSMENT"),
    (r"Encapsulated.*Storage", "ENCAP DOC"),
]


def record_type_for(keyword: str) -> str:
    for pattern, record_type in RULES:
        if re.fullmatch(pattern, keyword):
            return record_type
    return "IMAGE"


def _macro_types(path: Path) -> dict[str, str]:
    """``DirectoryRecordTypeIsX`` condition name → the record type it tests (condn.tpl)."""
    found: dict[str, str] = {}
    current = None
    for line in path.read_text(encoding="latin-1").splitlines():
        m = re.match(r'Condition="(DirectoryRecordTypeIs\w+)"', line.strip())
        if m:
            current = m.group(1)
            continue
        m = re.search(r'Element="DirectoryRecordType"\s+StringValue="([^"]+)"', line)
        if m and current and current not in found:
            found[current] = m.group(1)
        if line.strip() == "ConditionEnd":
            current = None
    return found


def _macros(rows: list[dict[str, str]]) -> dict[str, list[tuple[str, str, str]]]:
    """Macro/module name → its depth-0 items (kind, name, type)."""
    out: dict[str, list[tuple[str, str, str]]] = {}
    for row in rows:
        if row["depth"] != "0":
            continue
        out.setdefault(row["container"], []).append((row["item_kind"], row["name"],
                                                     row["type"]))
    return out


def record_keys() -> list[tuple[str, str, str]]:
    rows = list(csv.DictReader(open(STANDARD / "ps3.3" / "dicom3tools_module_attributes_2024.tsv",
                                    encoding="utf-8"), delimiter="\t"))
    macros = _macros(rows)
    conditions = _macro_types(STANDARD / "dicom3tools" / "condn.tpl")
    invoked = re.findall(r'InvokeMacro="(\w+DirectoryRecord)"\s+Condition="(\w+)"',
                         (STANDARD / "dicom3tools" / "module" / "file.tpl").read_text())
    result: list[tuple[str, str, str]] = []

    def expand(macro: str, record_type: str, seen: set[str]) -> None:
        for kind, name, type_ in macros.get(macro, []):
            if kind == "InvokeMacro":
                expand(name, record_type, seen)
            elif name not in seen:
                seen.add(name)
                result.append((record_type, name, type_ or "3"))

    for macro, condition in invoked:
        expand(macro, conditions[condition], set())
    for record_type, keys in EXTRA.items():
        result += [(record_type, "SpecificCharacterSet", "1C")]
        result += [(record_type, name, type_) for name, type_ in keys]
    return result


def sop_record_types() -> list[tuple[str, str]]:
    rows = csv.DictReader(open(STANDARD / "ps3.6" / "uids.tsv", encoding="utf-8"),
                          delimiter="\t")
    return sorted((r["keyword"], record_type_for(r["keyword"])) for r in rows
                  if r["type"] == "SOP Class" and r["keyword"].endswith("Storage")
                  and r["keyword"] != "MediaStorageDirectoryStorage")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    keys = record_keys()
    with open(args.out / "record_keys.tsv", "w", encoding="utf-8") as handle:
        handle.write("record_type\tkeyword\ttype\n")
        for row in keys:
            handle.write("\t".join(row) + "\n")
    sops = sop_record_types()
    with open(args.out / "sop_record_types.tsv", "w", encoding="utf-8") as handle:
        handle.write("sop_class\trecord_type\n")
        for row in sops:
            handle.write("\t".join(row) + "\n")
    print(f"{len(keys)} record keys, {len(sops)} SOP classes -> {args.out}")


if __name__ == "__main__":
    main()
