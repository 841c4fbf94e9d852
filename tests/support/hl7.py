"""HL7 v2 test messages, written the way a RIS sends them (segments separated by CR)."""

from __future__ import annotations


def orm(control: str = "NW", *, control_id: str = "MSG0001", accession: str = "ACC001",
        rp_id: str = "RP001", sps_id: str = "SPS001", study_uid: str = "1.2.826.0.1.3680043.10.1",
        patient: str = "PAT001^^^HOSP^MR", name: str = "Doe^John^Q^^Dr", birth: str = "19700101",
        sex: str = "M", start: str = "20261204083000", modality: str = "CT",
        charset: str = "", version: str = "2.3.1", order_status: str = "SC",
        extra: list[str] | None = None) -> str:
    """An ORM^O01 as IHE RAD-4/RAD-13 (HL7 v2.3.1): keys in OBR-18/19/20, Study UID in ZDS-1."""
    obr = ["OBR", "1", "PLC001^RIS", "FIL001^PACS", "CTHEAD^CT Head^LOCAL^P1^Head protocol^LOCAL"]
    obr += [""] * 11  # OBR-5 … OBR-15
    obr += ["ORD1^Smith^Jane"]  # OBR-16 ordering provider
    obr += [""]  # OBR-17
    obr += [accession, rp_id, sps_id]  # OBR-18, 19, 20
    obr += ["", "", ""]  # OBR-21 … 23
    obr += [modality]  # OBR-24
    obr += [""] * 9  # OBR-25 … 33
    obr += ["T1&Tech&Tom"]  # OBR-34 technician
    segments = [
        f"MSH|^~\\&|RIS|HOSP|PACS|HOSP|20261204080000||ORM^O01|{control_id}|P|{version}"
        + (f"||||||{charset}" if charset else ""),
        f"PID|1||{patient}||{name}||{birth}|{sex}",
        "PV1|1|O|RAD^1^^HOSP|||||REF1^Welby^Marcus|||||||||||V123",
        f"ORC|{control}|PLC001^RIS|FIL001^PACS||{order_status}||^^^{start}^^R",
        "|".join(obr),
        f"ZDS|{study_uid}^DCM^Application^DICOM" if study_uid else "",
    ]
    segments += extra or []
    return "\r".join(s for s in segments if s) + "\r"


def omi(control: str = "NW", *, control_id: str = "MSG0101", steps: int = 1,
        station: str = "CT1", modality: str = "CT", start: str = "20261204090000",
        patient: str = "PAT002^^^HOSP^MR", name: str = "Roe^Jane") -> str:
    """An OMI^O23 as IHE RAD-4 (HL7 v2.5.1): TQ1 timing, one IPC per step."""
    segments = [
        f"MSH|^~\\&|RIS|HOSP|PACS|HOSP|20261204080000||OMI^O23^OMI_O23|{control_id}|P|2.5.1",
        f"PID|1||{patient}||{name}||19800202|F",
        "PV1|1|O|RAD^2^^HOSP|||||REF2^House^Greg",
        f"ORC|{control}|PLC002^RIS|FIL002^PACS||SC",
        f"TQ1|1||||||{start}||S",
        "OBR|1|PLC002^RIS|FIL002^PACS|MRHEAD^MR Head^LOCAL",
    ]
    for n in range(1, steps + 1):
        segments.append(f"IPC|ACC002|RP002|1.2.826.0.1.3680043.10.2|SPS00{n}|{modality}|"
                        f"PROT{n}^Protocol {n}^LOCAL|STATION{n}|ROOM{n}|{station}")
    return "\r".join(segments) + "\r"


def adt_a08(*, name: str = "Doe^Johnny", patient: str = "PAT001^^^HOSP^MR",
            control_id: str = "MSG0201", birth: str = "19700102", sex: str = "M") -> str:
    return ("\r".join([
        f"MSH|^~\\&|ADT|HOSP|PACS|HOSP|20261204080000||ADT^A08^ADT_A01|{control_id}|P|2.5.1",
        "EVN|A08|20261204080000",
        f"PID|1||{patient}||{name}||{birth}|{sex}",
        "PV1|1|O",
    ]) + "\r")


def adt_a40(*, new: str = "PAT009^^^HOSP^MR", old: str = "PAT001^^^HOSP^MR",
            name: str = "Doe^John", control_id: str = "MSG0301") -> str:
    return ("\r".join([
        f"MSH|^~\\&|ADT|HOSP|PACS|HOSP|20261204080000||ADT^A40^ADT_A39|{control_id}|P|2.5.1",
        "EVN|A40|20261204080000",
        f"PID|1||{new}||{name}",
        f"MRG|{old}",
    ]) + "\r")


def fields(ack: str, segment: str) -> list[str]:
    """The fields of one segment of an ACK (``fields(ack, "MSA")[1]`` is MSA-1)."""
    for line in ack.replace("\n", "\r").split("\r"):
        if line.startswith(segment + "|"):
            return line.split("|")
    raise AssertionError(f"no {segment} segment in {ack!r}")
