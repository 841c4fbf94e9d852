"""Checks of Inventory SOP Instances (PS3.3 A.88) against independent references.

The installed dicom3tools ``dciodvfy`` predates Supplement 223: it answers "Information Object
Not found" for an Inventory (and warns its tags are unrecognised) but still checks the
encoding, so every other Error line fails the test. The IOD itself is checked here:

- its modules as PS3.3 Table A.88.3-1 lists them, read from the innolitics 2024b table
  ``ps3.3/ciod_to_modules.tsv`` (General Equipment, Inventory, SOP Common);
- General Equipment and SOP Common with the dicom3tools module tables dicomkit generates
  (:func:`dicomkit.iod.modules.module_rules`: Type 1 present and not empty, Type 2 present);
- the Inventory Module's unconditional attributes as PS3.3 Table C.38.1-1 (2024d) states
  them — the machine-readable tables here have no row for this module (innolitics' attribute
  tables are 2020, dicom3tools' 2024-12 snapshot has no Inventory module), so they are
  listed below from the table's text.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dicomkit import read
from dicomkit.core.dataset import Dataset
from dicomkit.iod.modules import module_rules
from tests.support.dciodvfy import verify

STANDARD = Path("/work/shared/dicom-standard/ps3.3/ciod_to_modules.tsv")
# dicom3tools module names of the innolitics module ids A.88.3-1 uses.
DICOM3TOOLS_NAME = {"general-equipment": "GeneralEquipment", "sop-common": "SOPCommon"}
# PS3.3 Table C.38.1-1 (and C.38.2-1, its Scope of Inventory Macro): keyword -> Type.
INVENTORY_MODULE = {
    "ContentDate": "1", "ContentTime": "1", "ScopeOfInventorySequence": "2",
    "InventoryPurpose": "2", "InventoryLevel": "1", "InventoryCompletionStatus": "1",
    "NumberOfStudyRecordsInInstance": "1", "TotalNumberOfStudyRecords": "1",
}
INVENTORY_LEVELS = ("STUDY", "SERIES", "INSTANCE")


def a88_modules() -> list[str]:
    """The modules of the Inventory IOD, innolitics ids, from the standard's table."""
    rows = [line.split("\t") for line in STANDARD.read_text("utf-8").splitlines()[1:]]
    return [row[2] for row in rows if row[0] == "inventory"]


def problems(ds: Dataset) -> list[str]:
    found = []
    modules = a88_modules()
    assert modules == ["general-equipment", "inventory", "sop-common"], modules
    for module in modules:
        if module == "inventory":
            for keyword, kind in INVENTORY_MODULE.items():
                if keyword not in ds:
                    found.append(f"Inventory: Type {kind} {keyword} absent")
                elif kind == "1" and ds.get(keyword) in (None, "", []):
                    found.append(f"Inventory: Type 1 {keyword} empty")
            continue
        for rule in module_rules(DICOM3TOOLS_NAME[module]):
            if not rule.tag or rule.type not in ("1", "2"):
                continue
            if rule.tag not in ds:
                found.append(f"{module}: Type {rule.type} {rule.keyword} absent")
            elif rule.type == "1" and ds.get(rule.tag) in (None, "", []):
                found.append(f"{module}: Type 1 {rule.keyword} empty")
    if str(ds.get("InventoryLevel")) not in INVENTORY_LEVELS:
        found.append(f"Inventory Level {ds.get('InventoryLevel')!r}")
    studies = ds.get("InventoriedStudiesSequence") or []
    if ds.get("NumberOfStudyRecordsInInstance") != len(studies):
        found.append("Number of Study Records in Instance is not the number of study items")
    if ds.get("IncorporatedInventoryInstanceSequence") is None and \
            ds.get("TotalNumberOfStudyRecords") != len(studies):
        found.append("a leaf's Total Number of Study Records is not its study items")
    for number, study in enumerate(studies):
        if not study.get("StudyInstanceUID"):
            found.append(f"study item {number}: no Study Instance UID")
        level = str(ds.get("InventoryLevel"))
        has_series = "InventoriedSeriesSequence" in study
        if has_series != (level != "STUDY"):
            found.append(f"study item {number}: Inventoried Series Sequence at level {level}")
        for series in study.get("InventoriedSeriesSequence") or []:
            if ("InventoriedInstancesSequence" in series) != (level == "INSTANCE"):
                found.append(f"study item {number}: Inventoried Instances Sequence at "
                             f"level {level}")
    return found


def assert_inventory_valid(path: str | Path) -> None:
    verdict = verify(path)
    errors = [e for e in verdict.errors if "Information Object Not found" not in e]
    if errors:
        pytest.fail(f"dciodvfy {path}:\n" + "\n".join(errors))
    found = problems(read(path))
    if found:
        pytest.fail(f"{path} breaks the Inventory IOD (PS3.3 A.88):\n" + "\n".join(found))


def walk_tree(by_uid: dict[str, str | Path], root: str) -> list[str]:
    """The Study Instance UIDs of the tree under ``root`` (C.38.1.1.5: incorporated instances
    have the root's level; their studies are logically included)."""
    ds = read(by_uid[root])
    level = ds.InventoryLevel
    studies = [str(s.StudyInstanceUID) for s in ds.InventoriedStudiesSequence]
    for item in ds.get("IncorporatedInventoryInstanceSequence") or []:
        child = str(item.ReferencedSOPInstanceUID)
        assert read(by_uid[child]).InventoryLevel == level
        studies += walk_tree(by_uid, child)
    return studies
