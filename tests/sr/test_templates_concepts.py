"""The templates' concept names (sr/templates/concepts.py, written from PS3.16 Annex A) agree
with the generated PS3.16 context group table wherever a group also holds them, and every
value set row names a group the table has."""

from __future__ import annotations

from dicomkit.iod.codes import Code, cid, groups_of
from dicomkit.sr.templates import VALUE_SETS
from dicomkit.sr.templates import concepts as C


def _concepts() -> list[Code]:
    found: list[Code] = []
    for name in dir(C):
        value = getattr(C, name)
        if isinstance(value, Code):
            found.append(value)
        elif isinstance(value, tuple) and all(isinstance(v, Code) for v in value):
            found.extend(value)
    return found


def test_concepts_held_by_context_groups_have_their_meaning() -> None:
    checked = 0
    for code in _concepts():
        for number in groups_of(code):
            member = next(c for c in cid(number) if c == code)
            assert member.meaning.lower() == code.meaning.lower(), (code, number)
            checked += 1
    assert checked >= 5  # Person, Device, Patient, Fetus, Specimen, the report title, ...


def test_observer_and_subject_classes_are_their_groups_members() -> None:
    assert set(cid(270)) == {C.PERSON, C.DEVICE}
    assert {C.PATIENT, C.FETUS, C.SPECIMEN, C.DEVICE_SUBJECT} == set(cid(271))
    assert C.IMAGING_MEASUREMENT_REPORT in cid(7021)


def test_every_value_set_names_a_known_group() -> None:
    for rule in VALUE_SETS.values():
        assert len(cid(rule.group)) > 0, rule
        assert rule.strength in ("DCID", "BCID")
