"""HL7 v2 orders and ADT mapped to worklist operations as IHE RAD TF-2 Scheduled Workflow does
(RAD-4, RAD-13, Appendix B), and every malformed message answered with the place of its fault."""

from __future__ import annotations

import pytest

from dicomkit.core.values import PersonName
from dicomkit.hl7 import ack
from dicomkit.hl7.mapping import (
    CancelOrder,
    ChangeOrderStatus,
    MergePatient,
    NewOrder,
    UpdateOrder,
    UpdatePatient,
    operations,
    parse_dtm,
)
from dicomkit.hl7.messages import Header, HL7Error, Separators, parse, read_header, unescape
from tests.support.hl7 import adt_a08, adt_a40, fields, omi, orm


def ops(text: str | bytes, **kwargs: str) -> list:
    raw = text.encode("ascii") if isinstance(text, str) else text
    return operations(parse(raw), **kwargs)


def error(text: str | bytes, **kwargs: str) -> HL7Error:
    with pytest.raises(HL7Error) as caught:
        ops(text, **kwargs)
    return caught.value


def test_orm_new_order_maps_as_ihe_rad_4() -> None:
    [op] = ops(orm(), default_station="CT1")
    assert isinstance(op, NewOrder)
    item = op.item
    assert item.PatientID == "PAT001" and item.IssuerOfPatientID == "HOSP"
    assert item.IssuerOfPatientIDQualifiersSequence[0].IdentifierTypeCode == "MR"
    assert str(item.PatientName) == "Doe^John^Q^Dr"  # XPN prefix (5) -> PN prefix (4)
    assert item.PatientBirthDate == "19700101" and item.PatientSex == "M"
    assert str(item.ReferringPhysicianName) == "Welby^Marcus"  # PV1-8
    assert str(item.RequestingPhysician) == "Smith^Jane"  # OBR-16
    assert item.AdmissionID == "V123"  # PV1-19
    assert item.AccessionNumber == "ACC001"  # OBR-18
    assert item.RequestedProcedureID == "RP001"  # OBR-19
    assert item.StudyInstanceUID == "1.2.826.0.1.3680043.10.1"  # ZDS-1
    assert item.PlacerOrderNumberImagingServiceRequest == "PLC001"  # ORC-2
    assert item.FillerOrderNumberImagingServiceRequest == "FIL001"  # ORC-3
    assert item.RequestedProcedureDescription == "CT Head"  # OBR-4.2
    assert item.RequestedProcedureCodeSequence[0].CodeValue == "CTHEAD"
    assert item.RequestedProcedurePriority == "ROUTINE"  # ORC-7.6 R
    step = item.ScheduledProcedureStepSequence[0]
    assert step.ScheduledProcedureStepID == "SPS001"  # OBR-20
    assert step.Modality == "CT"  # OBR-24
    assert step.ScheduledProcedureStepStartDate == "20261204"  # ORC-7.4
    assert step.ScheduledProcedureStepStartTime == "083000"
    assert step.ScheduledStationAETitle == "CT1"  # the configured default
    assert str(step.ScheduledPerformingPhysicianName) == "Tech^Tom"  # OBR-34
    assert step.ScheduledProtocolCodeSequence[0].CodeValue == "P1"  # OBR-4.4
    assert step.ScheduledProcedureStepDescription == "Head protocol"  # OBR-4.5
    assert step.ScheduledProcedureStepStatus == "SCHEDULED"
    assert op.keys.query() == {"accession_number": "ACC001", "requested_procedure_id": "RP001",
                               "sps_id": "SPS001", "study_uid": "1.2.826.0.1.3680043.10.1"}


def test_omi_gives_one_step_per_ipc() -> None:
    result = ops(omi(steps=2))
    assert [type(op) for op in result] == [NewOrder, NewOrder]
    first, second = (op.item for op in result)
    assert first.AccessionNumber == "ACC002" and first.RequestedProcedureID == "RP002"
    assert first.StudyInstanceUID == "1.2.826.0.1.3680043.10.2"
    steps = [item.ScheduledProcedureStepSequence[0] for item in (first, second)]
    assert [s.ScheduledProcedureStepID for s in steps] == ["SPS001", "SPS002"]
    assert [s.ScheduledStationAETitle for s in steps] == ["CT1", "CT1"]  # IPC-9
    assert [s.ScheduledStationName for s in steps] == ["STATION1", "STATION2"]  # IPC-7
    assert steps[1].ScheduledProtocolCodeSequence[0].CodeMeaning == "Protocol 2"  # IPC-6
    assert steps[0].ScheduledProcedureStepStartTime == "090000"  # TQ1-7
    assert first.RequestedProcedurePriority == "STAT"  # TQ1-9 S


def test_order_controls() -> None:
    assert isinstance(ops(orm("XO"), default_station="X")[0], UpdateOrder)
    cancel = ops(orm("CA"))[0]
    assert isinstance(cancel, CancelOrder) and not cancel.discontinued
    stop = ops(orm("DC"))[0]
    assert isinstance(stop, CancelOrder) and stop.discontinued
    status = ops(orm("SC", order_status="IP"))[0]
    assert isinstance(status, ChangeOrderStatus) and status.status == "STARTED"


def test_adt_a08_and_a40() -> None:
    [update] = ops(adt_a08())
    assert isinstance(update, UpdatePatient)
    assert (update.patient_id, update.issuer) == ("PAT001", "HOSP")
    assert str(update.changes.PatientName) == "Doe^Johnny"
    assert update.changes.PatientBirthDate == "19700102"
    [merge] = ops(adt_a40())
    assert isinstance(merge, MergePatient)
    assert (merge.old_id, merge.old_issuer, merge.new_id, merge.new_issuer) == (
        "PAT001", "HOSP", "PAT009", "HOSP")


def test_utf8_names_and_their_character_set() -> None:
    text = orm(charset="UNICODE UTF-8", name="Müller^Jürgen~山田^太郎^^^^^L^I")
    [op] = ops(text.encode("utf-8"), default_station="CT1")
    assert op.item.SpecificCharacterSet == "ISO_IR 192"
    name = PersonName(str(op.item.PatientName))
    assert name.alphabetic == "Müller^Jürgen" and name.ideographic == "山田^太郎"


def test_iso_ir_87_names() -> None:
    text = orm(charset="ISO IR87", name="Yamada^Tarou^^^^^L^A~山田^太郎^^^^^L^I~やまだ^たろう^^^^^L^P")
    [op] = ops(text.encode("iso2022_jp"), default_station="CT1")
    assert op.item.SpecificCharacterSet == ["", "ISO 2022 IR 87"]
    assert str(op.item.PatientName) == "Yamada^Tarou=山田^太郎=やまだ^たろう"


def test_escapes_are_undone() -> None:
    seps = Separators()
    assert unescape(r"A\S\B\T\C\F\D\R\E\E\\X41\\H\x\N\\.br\y", seps) == "A^B&C|D~E\\Ax\ny"
    assert unescape(r"open\S", seps) == r"open\S"  # unclosed: as sent
    [op] = ops(orm(name=r"O\T\Brien^Pat"), default_station="CT1")
    assert str(op.item.PatientName) == "O&Brien^Pat"


@pytest.mark.parametrize("text, where, code, reject", [
    ("PID|1||X", "MSH", 100, True),  # no MSH
    ("MSH|^~|RIS", "MSH-2", 102, True),  # encoding characters
    (orm(version="2.9"), "MSH-12", 203, True),
    (orm().replace("ORM^O01", "ORU^R01"), "MSH-9", 200, True),
    (orm().replace("ORM^O01", "ORM^O02"), "MSH-9.2", 201, True),
    (orm().replace("|P|2.3.1", "|X|2.3.1"), "MSH-11", 202, True),
    (orm().replace("MSG0001", ""), "MSH-10", 101, True),
    (orm().replace("\rPID|1||PAT001^^^HOSP^MR||Doe^John^Q^^Dr||19700101|M", ""), "PID", 100,
     False),
    (orm(patient=""), "PID-3", 101, False),
    (orm(birth="19701345"), "PID-7", 102, False),
    (orm(birth="1970-01-01"), "PID-7", 102, False),
    (orm(sex="Q"), "PID-8", 103, False),
    (orm(start="2026120"), "ORC-7.4", 102, False),
    (orm(start=""), "ORC-7.4", 101, False),
    (orm(rp_id=""), "OBR-19", 101, False),
    (orm(sps_id=""), "OBR-20", 101, False),
    (orm(modality=""), "OBR-24", 101, False),
    (orm(accession="A" * 17), "OBR-18", 102, False),
    (orm(study_uid="1.2.abc"), "ZDS-1", 102, False),
    (orm("ZZ"), "ORC-1", 103, False),
    (orm().replace("\rZDS", "\rzds"), "", 100, False),
    (adt_a40().replace("\rMRG|PAT001^^^HOSP^MR", ""), "MRG", 100, False),
])
def test_malformed_messages_name_segment_and_field(text: str, where: str, code: int,
                                                   reject: bool) -> None:
    caught = error(text, default_station="CT1")
    assert (caught.location, caught.code, caught.reject) == (where, code, reject)


def test_orm_without_a_station_needs_the_default() -> None:
    caught = error(orm())
    assert caught.code == 101 and "hl7-station" in caught.reason


def test_bytes_invalid_in_the_character_set_are_located() -> None:
    raw = orm(charset="UNICODE UTF-8").encode("ascii").replace(b"Doe", b"D\xffe")
    caught = error(raw)
    assert (caught.location, caught.code) == ("PID-5", 102)


def test_an_unknown_character_set_is_rejected() -> None:
    caught = error(orm(charset="EBCDIC"))
    assert (caught.location, caught.code, caught.reject) == ("MSH-18", 103, True)


def test_ack_swaps_sender_and_receiver_and_quotes_the_control_id() -> None:
    header = read_header(orm().encode())
    text = ack.accepted(header, "done").decode()
    msh, msa = fields(text, "MSH"), fields(text, "MSA")
    assert msh[2:6] == ["PACS", "HOSP", "RIS", "HOSP"]
    assert msh[8] == "ACK^O01^ACK" and msh[11] == "2.3.1" and msh[9]
    assert msa[1:] == ["AA", "MSG0001", "done"]


def test_error_ack_has_err_with_location_and_code() -> None:
    raw = orm(birth="19701345").encode()
    caught = error(raw, default_station="CT1")
    text = ack.for_error(read_header(raw), caught).decode()
    assert fields(text, "MSA")[1:3] == ["AE", "MSG0001"]
    err = fields(text, "ERR")
    assert err[1].startswith("PID^1^7^102")  # ERR-1 (v2.3 style)
    assert err[2] == "PID^1^7^1"  # ERR-2 Error Location
    assert err[3] == "102^Data type error^HL70357"  # ERR-3
    assert err[4] == "E"
    assert "month 13" in err[8]


def test_ack_escapes_what_it_quotes() -> None:
    header = read_header(orm(control_id=r"A\F\B").encode())
    assert header.control_id == "A|B"
    text = ack.accepted(header, "x^y").decode()
    assert fields(text, "MSA")[2:] == ["A\\F\\B", "x\\S\\y"]


def test_reject_without_msh_still_answers() -> None:
    raw = b"garbage"
    with pytest.raises(HL7Error) as caught:
        read_header(raw)
    text = ack.for_error(Header(), caught.value).decode()
    assert fields(text, "MSA")[1] == "AR"


@pytest.mark.parametrize("value, expected", [
    ("20261204", ("20261204", "", 8)),
    ("202612040830", ("20261204", "083000", 8)),
    ("20261204083015.123+0100", ("20261204", "083015.123", 8)),
    ("2026", ("", "", 4)),
])
def test_parse_dtm(value: str, expected: tuple[str, str, int]) -> None:
    assert parse_dtm(value) == expected


@pytest.mark.parametrize("value", ["20260230", "2026120425", "abc", "20261204 0830"])
def test_parse_dtm_refuses(value: str) -> None:
    with pytest.raises(ValueError):
        parse_dtm(value)
