"""Value set constraints of the templates' rows (PS3.16 §6.1.7 and Annex A), checked when a
template object is turned into content items.

PS3.16 §7.2.1: a *Defined* context group (DCID) is the set of values the row shall use; a
*Baseline* context group (BCID) is a suggestion that may be replaced. So a code outside a DCID
group is refused (:class:`TemplateError`), a code outside a BCID group is kept with a
:class:`TemplateWarning`. Units of TID 300 measurements are UCUM (PS3.16 TID 300 "UNITS =
$Units", PS3.3 C.18.1.1: Measurement Units Code Sequence from UCUM) and refused otherwise.

The groups' members are the generated PS3.16 table (:func:`dicomkit.iod.codes.cid`); which row
uses which group is this module's table, one line per row.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from dicomkit.iod.codes import Code, cid
from dicomkit.sr import SRError


class TemplateError(SRError):
    """A template object or content tree that breaks its template (PS3.16 Annex A)."""


class TemplateWarning(UserWarning):
    """A code outside a row's baseline (BCID) context group: allowed, but worth a look."""


@dataclass(frozen=True)
class ValueSet:
    """One template row's value set: the template, the row's concept, the context group and
    whether it is Defined (DCID) or Baseline (BCID)."""

    template: str
    row: str
    group: int
    strength: str  # "DCID" | "BCID"

    def where(self) -> str:
        return f"TID {self.template} row {self.row!r}"

    def check(self, code: Code, where: str = "") -> None:
        """Refuse (DCID) or warn about (BCID) ``code`` when the group does not hold it."""
        if not isinstance(code, Code):
            raise TemplateError(f"{where or self.where()}: {code!r} is not a Code")
        if code in cid(self.group):
            return
        message = (f"{where or self.where()}: {code} is not in {self.strength} {self.group} "
                   f"({cid(self.group).keyword}), the value set of {self.where()}")
        if self.strength == "DCID":
            raise TemplateError(message)
        warnings.warn(message, TemplateWarning, stacklevel=3)


VALUE_SETS: dict[str, ValueSet] = {
    # TID 1500 Measurement Report
    "report_title": ValueSet("1500", "Document title (root CONTAINER)", 7021, "DCID"),
    "procedure_reported": ValueSet("1500", "Procedure reported", 100, "BCID"),
    # TID 1002 Observer Context, TID 1003, TID 1004
    "observer_type": ValueSet("1002", "Observer Type", 270, "DCID"),
    "person_role_in_organization": ValueSet("1003", "Person Observer's Role in the "
                                            "Organization", 7452, "BCID"),
    "person_role_in_procedure": ValueSet("1003", "Person Observer's Role in this Procedure",
                                         7453, "BCID"),
    "device_role_in_procedure": ValueSet("1004", "Device Role in Procedure", 7445, "BCID"),
    # TID 1006 Subject Context
    "subject_class": ValueSet("1006", "Subject Class", 271, "DCID"),
    # TID 1602 Image Library Entry Descriptors
    "modality": ValueSet("1602", "Modality", 29, "DCID"),
    # TID 1501 / 1410 / 1411 measurement groups
    "finding_category": ValueSet("1501", "Finding category", 7150, "BCID"),
    "group_method": ValueSet("1501", "Measurement Method", 6147, "BCID"),
    "geometric_purpose": ValueSet("1410", "Geometric purpose of region", 219, "BCID"),
    # TID 300 Measurement, as TID 1419 ROI Measurements invokes it
    "measurement_name": ValueSet("1419", "Measurement ($Measurement)", 7469, "BCID"),
    "derivation": ValueSet("1419", "Derivation ($Derivation)", 7464, "DCID"),
    "laterality": ValueSet("300", "Laterality of the finding site ($TargetSiteLaterality)",
                           244, "DCID"),
    # TID 2010 Key Object Selection
    "kos_title": ValueSet("2010", "Document title (root CONTAINER)", 7010, "DCID"),
}


def check(rule: str, code: Code | None, where: str = "") -> None:
    """Check ``code`` against the value set named ``rule`` (nothing to check for None)."""
    if code is not None:
        VALUE_SETS[rule].check(code, where)


def check_ucum(unit: Code, where: str) -> None:
    """PS3.16 TID 300 row 1 / PS3.3 C.18.1.1: measurement units are UCUM codes."""
    if not isinstance(unit, Code) or unit.scheme != "UCUM":
        raise TemplateError(f"{where}: unit {unit} is not a UCUM code (TID 300 row 1, "
                            "UNITS = $Units; PS3.3 C.18.1.1)")
