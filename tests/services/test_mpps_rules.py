"""PS3.4 F.7: the MPPS SCP's rules — Table F.7.2-1 checked cell by cell against the standard's
table, the state machine of Table F.1-4, and the status of each violation (PS3.7 Annex C,
PS3.4 F.7.2.1.3, F.7.2.2.3, Table F.7.2-2)."""

from __future__ import annotations

import json
import re

import pytest

from dicomkit.core.dataset import Dataset
from dicomkit.core.element import DataElement
from dicomkit.services.mpps import (
    ATTRIBUTES,
    COMPLETED,
    DISCONTINUED,
    IN_PROGRESS,
    NO_LONGER_UPDATABLE,
    NO_LONGER_UPDATABLE_ID,
    TRANSITIONS,
    MppsError,
    Rule,
    apply_set,
    check_create,
    normalized,
)
from tests.support.mpps import create_attrs, final_set, series_item
from tests.support.paths import STANDARD

TABLES = json.loads((STANDARD / "part04_tables_F.7.2.json").read_text())


def _cell(text: str) -> str:
    """A requirement cell without its condition text: "1C/1C (Required if …)" -> "1C/1C"."""
    text = text.strip()
    if text.lower() == "not allowed":
        return "Not allowed"
    return text.split(" ")[0] if text else ""


def _standard_rows() -> list[tuple[int, int, str, str, str]]:
    rows = []
    for name, tag, create, set_, final in TABLES["table_F.7.2-1"]["rows"]:
        match = re.fullmatch(r"\(([0-9A-F]{4}),([0-9A-F]{4})\)", tag.strip())
        if match is None:  # section headings and "All other Attributes …" rows
            continue
        depth = len(name) - len(name.lstrip(">"))
        rows.append((depth, int(match[1] + match[2], 16), _cell(create), _cell(set_),
                     _cell(final)))
    return rows


def _our_rows(rules: tuple[Rule, ...], depth: int = 0) -> list[tuple[int, int, str, str, str]]:
    rows = []
    for rule in rules:
        rows.append((depth, rule.tag, rule.create, rule.set, rule.final))
        rows += _our_rows(rule.items, depth + 1)
    return rows


def test_attribute_table_is_table_f_7_2_1_row_for_row():
    assert _our_rows(ATTRIBUTES) == _standard_rows()


def test_no_longer_updatable_is_table_f_7_2_2():
    (row,) = TABLES["table_F.7.2-2"]["rows"]
    assert row[2] == "0110"
    assert row[3] == NO_LONGER_UPDATABLE
    assert int(row[4], 16) == NO_LONGER_UPDATABLE_ID


def test_state_machine_is_table_f_1_4():
    assert TRANSITIONS == {
        IN_PROGRESS: {IN_PROGRESS: IN_PROGRESS, COMPLETED: COMPLETED,
                      DISCONTINUED: DISCONTINUED},
        COMPLETED: {}, DISCONTINUED: {}}


# -- helpers ------------------------------------------------------------------------------------


def _created(**overrides: object) -> Dataset:
    data, _ = normalized(create_attrs(**overrides))
    return check_create(data).data


def _refused(call, *args) -> MppsError:
    with pytest.raises(MppsError) as caught:
        call(*args)
    return caught.value


def _set(current: Dataset, modification: Dataset):
    data, _ = normalized(modification)
    return apply_set(current, data)


# -- N-CREATE -----------------------------------------------------------------------------------


def test_create_accepts_the_table_and_keeps_type_2_left_out_as_empty():
    data, unknown = normalized(create_attrs(PerformedLocation=..., StudyID=...))
    checked = check_create(data)
    assert unknown == [] and checked.warning is None
    assert checked.data["PerformedLocation"].value in (None, "")
    assert "StudyID" in checked.data


@pytest.mark.parametrize("keyword", ["PerformedProcedureStepID", "PerformedStationAETitle",
                                     "PerformedProcedureStepStartDate",
                                     "PerformedProcedureStepStartTime", "Modality",
                                     "PerformedProcedureStepStatus",
                                     "ScheduledStepAttributesSequence"])
def test_create_without_a_type_1_attribute_is_0120_naming_it(keyword):
    error = _refused(check_create, normalized(create_attrs(**{keyword: ...}))[0])
    assert error.status == 0x0120
    assert error.fields()["AttributeIdentifierList"] == [int(Dataset().set(keyword, None).tag)]


def test_create_with_an_empty_type_1_attribute_is_0121():
    error = _refused(check_create, normalized(create_attrs(PerformedStationAETitle=None))[0])
    assert (error.status, error.tags) == (0x0121, [0x00400241])


def test_create_with_an_empty_scheduled_step_sequence_is_0121():
    error = _refused(check_create,
                     normalized(create_attrs(ScheduledStepAttributesSequence=[]))[0])
    assert (error.status, error.tags) == (0x0121, [0x00400270])


def test_create_item_without_study_instance_uid_is_0120():
    ds = create_attrs()
    del ds.ScheduledStepAttributesSequence[0].StudyInstanceUID
    error = _refused(check_create, normalized(ds)[0])
    assert (error.status, error.tags) == (0x0120, [0x0020000D])


@pytest.mark.parametrize("status", ["COMPLETED", "DISCONTINUED", "SCHEDULED"])
def test_create_not_in_progress_is_0106_with_the_status_tag(status):
    """PS3.4 F.7.2.1.3: only IN PROGRESS is created; else 0106H with an Attribute List."""
    error = _refused(check_create,
                     normalized(create_attrs(PerformedProcedureStepStatus=status))[0])
    assert (error.status, error.tags) == (0x0106, [0x00400252])


def test_create_with_a_value_breaking_its_vr_is_0106():
    error = _refused(check_create,
                     normalized(create_attrs(PerformedProcedureStepStartDate="2026-12-04"))[0])
    assert (error.status, error.tags) == (0x0106, [0x00400244])


def test_unknown_public_tags_are_left_out_and_named():
    ds = create_attrs()
    ds[0x00091001] = DataElement(0x00091001, "LO", "private")  # private: kept
    ds[0x00090010] = DataElement(0x00090010, "LO", "ACME")
    ds[0x00431234] = DataElement(0x00431234, "LO", "private too")
    ds[0x7777_0010] = DataElement(0x7777_0010, "LO", "x")
    ds[0x0040_9999] = DataElement(0x0040_9999, "LO", "not in the dictionary")
    data, unknown = normalized(ds)
    assert unknown == [0x0040_9999]
    assert 0x0040_9999 not in data and 0x00091001 in data


def test_end_before_start_is_warning_0116():
    data, _ = normalized(create_attrs(PerformedProcedureStepEndDate="20261203",
                                      PerformedProcedureStepEndTime="090000"))
    checked = check_create(data)
    assert checked.warning is not None and checked.warning.status == 0x0116


# -- N-SET --------------------------------------------------------------------------------------


def test_set_in_progress_keeps_the_state_and_merges():
    current = _created()
    modification = Dataset()
    modification.PerformedProcedureStepDescription = "CT HEAD AND NECK"
    modification.PerformedSeriesSequence = [series_item()]
    merged = _set(current, modification).data
    assert merged.PerformedProcedureStepStatus == IN_PROGRESS
    assert merged.PerformedProcedureStepDescription == "CT HEAD AND NECK"
    assert merged.PatientID == "PID1"
    assert len(merged.PerformedSeriesSequence) == 1


@pytest.mark.parametrize("final", [COMPLETED, DISCONTINUED])
def test_set_to_a_final_state(final):
    assert _set(_created(), final_set(final)).data.PerformedProcedureStepStatus == final


@pytest.mark.parametrize("final", [COMPLETED, DISCONTINUED])
def test_no_change_after_a_final_state_is_0110_a710(final):
    done = _set(_created(), final_set(final)).data
    for modification in (final_set(final), final_set(IN_PROGRESS), Dataset()):
        error = _refused(_set, done, modification)
        assert error.status == 0x0110
        assert error.fields() == {"ErrorComment": NO_LONGER_UPDATABLE, "ErrorID": 0xA710}


@pytest.mark.parametrize("keyword, value", [
    ("Modality", "MR"), ("PatientID", "OTHER"), ("PerformedProcedureStepID", "X"),
    ("PerformedStationAETitle", "CT9"), ("PerformedProcedureStepStartDate", "20260101")])
def test_set_of_a_not_allowed_attribute_is_0105_naming_it(keyword, value):
    modification = Dataset()
    modification.set(keyword, value)
    error = _refused(_set, _created(), modification)
    assert error.status == 0x0105
    assert error.tags == [int(modification[keyword].tag)]


def test_set_repeating_a_not_allowed_value_unchanged_is_accepted():
    modification = Dataset()
    modification.Modality = "CT"
    modification.PatientID = "PID1"
    assert _set(_created(), modification).data.Modality == "CT"


def test_set_to_an_unknown_status_is_0106():
    modification = Dataset()
    modification.PerformedProcedureStepStatus = "PAUSED"
    error = _refused(_set, _created(), modification)
    assert (error.status, error.tags) == (0x0106, [0x00400252])


def test_set_to_an_empty_status_is_0121():
    modification = Dataset()
    modification.PerformedProcedureStepStatus = None
    assert _refused(_set, _created(), modification).status == 0x0121


def test_set_series_item_without_its_type_1_attributes_is_0120():
    item = series_item()
    del item.SeriesInstanceUID
    modification = Dataset()
    modification.PerformedSeriesSequence = [item]
    error = _refused(_set, _created(), modification)
    assert (error.status, error.tags) == (0x0120, [0x0020000E])


@pytest.mark.parametrize("keyword", ["PerformedProcedureStepEndDate",
                                     "PerformedProcedureStepEndTime"])
def test_final_state_needs_end_date_and_time(keyword):
    error = _refused(_set, _created(), final_set(**{keyword: ...}))
    assert (error.status, error.tags) == (0x0121, [Dataset().set(keyword, None).tag])


def test_final_state_needs_a_performed_series():
    """Table F.7.2-1 note 2: at least one Performed Series Sequence item."""
    error = _refused(_set, _created(), final_set(PerformedSeriesSequence=[]))
    assert (error.status, error.tags) == (0x0121, [0x00400340])


def test_final_state_needs_the_type_2_series_attributes_present():
    item = series_item()
    del item.RetrieveAETitle
    error = _refused(_set, _created(), final_set(PerformedSeriesSequence=[item]))
    assert (error.status, error.tags) == (0x0120, [0x00080054])


def test_final_state_from_earlier_n_sets_counts():
    """The final state is checked on the merged instance: the series may have come before."""
    first = Dataset()
    first.PerformedSeriesSequence = [series_item()]
    first.PerformedProcedureStepEndDate = "20261204"
    first.PerformedProcedureStepEndTime = "110000"
    current = _set(_created(), first).data
    last = Dataset()
    last.PerformedProcedureStepStatus = "DISCONTINUED"
    assert _set(current, last).data.PerformedProcedureStepStatus == "DISCONTINUED"


def test_refused_set_leaves_the_instance_as_it_was():
    current = _created()
    before = current.copy()
    _refused(_set, current, final_set(PerformedSeriesSequence=[]))
    assert current == before


def test_text_in_another_character_set_is_kept_as_unicode():
    """F.7.2.2.3: an N-SET's Specific Character Set combines with the instance's."""
    from dicomkit.encoding.reader import read_dataset
    from dicomkit.encoding.transfer_syntax import lookup
    from dicomkit.encoding.writer import dataset_to_bytes

    modification = Dataset()
    modification.SpecificCharacterSet = "ISO_IR 100"
    modification.CommentsOnThePerformedProcedureStep = "Röntgen"
    encoded = dataset_to_bytes(modification, lookup("1.2.840.10008.1.2.1"))
    assert "Röntgen".encode("latin-1") in encoded
    received = read_dataset(encoded, little=True, implicit=False)
    merged = _set(_created(PatientName="Müller^Hans"), received).data
    assert merged.CommentsOnThePerformedProcedureStep == "Röntgen"
    assert str(merged.PatientName) == "Müller^Hans"
