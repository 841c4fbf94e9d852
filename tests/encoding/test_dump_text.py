"""DCMTK dump text (dcmdump's output, dump2dcm's input) read by encoding/dump_text.py, checked
against DCMTK's own ``dump2dcm`` on the same text."""

from __future__ import annotations

from pathlib import Path

import pytest

from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import registered
from dicomkit.encoding.dump_text import DumpTextError, read_dump_text
from dicomkit.encoding.json import to_json_dict
from dicomkit.encoding.reader import read
from dicomkit.encoding.writer import write
from tests.support.dcmtk import Dcmtk

WORKLIST_DUMP = """# Dicom-File-Format
# Dicom-Data-Set
(0008,0005) CS [ISO_IR 100]
(0008,0050) SH [ACC001]                             #   6, 1 AccessionNumber
(0010,0010) PN [M\xfcller^Hans]
(0010,0020) LO [PID1]
(0010,1030) DS [72.5]
(0020,0013) IS [7]
(0028,0010) US 512
(0028,1052) DS [-1024]
(0040,0100) SQ (Sequence with explicit length #=1)
  (fffe,e000) na (Item with explicit length #=5)
    (0008,0060) CS [CT]
    (0040,0001) AE [CT1\\CT2]
    (0040,0002) DA [20261204]
    (0040,0008) SQ (Sequence with undefined length #=1)
      (fffe,e000) na (Item with undefined length #=2)
        (0008,0100) SH [P1]
        (0008,0104) LO [Chest protocol]
      (fffe,e00d) na (ItemDelimitationItem)
    (fffe,e0dd) na (SequenceDelimitationItem)
    (0040,0009) SH [SPS1]
  (fffe,e00d) na (ItemDelimitationItem for re-encoding)
(fffe,e0dd) na (SequenceDelimitationItem for re-encoding)
(0040,1001) SH [RP1]
(0040,1004) LO (no value available)
""".encode("latin-1")


def test_a_worklist_dump_reads_as_dump2dcm_reads_it(dcmtk: Dcmtk, tmp_path: Path) -> None:
    source = tmp_path / "item.dump"
    source.write_bytes(WORKLIST_DUMP)
    dcmtk.run("dump2dcm", source, tmp_path / "item.dcm")
    theirs = to_json_dict(read(str(tmp_path / "item.dcm")))
    ours = to_json_dict(read_dump_text(WORKLIST_DUMP))
    assert ours == theirs
    assert ours["00100010"]["Value"] == [{"Alphabetic": "Müller^Hans"}]


def test_dcmdump_output_of_an_iso_2022_file_reads_back(dcmtk: Dcmtk, tmp_path: Path) -> None:
    ds = Dataset()
    ds.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
    ds.PatientName = "Yamada^Tarou=山田^太郎=やまだ^たろう"
    ds.StudyDescription = "胸部検査"
    ds.SOPClassUID = registered("CTImageStorage")
    write(ds, tmp_path / "jp.dcm")
    dumped = dcmtk.run("dcmdump", "+L", tmp_path / "jp.dcm").stdout.encode("latin-1")
    back = read_dump_text(dumped)
    assert str(back.PatientName) == "Yamada^Tarou=山田^太郎=やまだ^たろう"
    assert back.StudyDescription == "胸部検査"
    assert "TransferSyntaxUID" not in back  # group 0002 is left out
    assert back.SOPClassUID == registered("CTImageStorage")


def test_keywords_and_uid_keywords(tmp_path: Path) -> None:
    ds = read_dump_text(b"PatientName PN [Doe^John]\n(0008,0016) UI =CTImageStorage\n")
    assert str(ds.PatientName) == "Doe^John"
    assert ds.SOPClassUID == registered("CTImageStorage")


@pytest.mark.parametrize(("text", "message"), [
    (b"(0010,0010 PN [x]\n", "line 1: .* does not start with a tag"),
    (b"(0010,0010) PN [x\n", r"line 1: \(0010,0010\) PN: a value opened with \[ is not closed"),
    (b"(fffe,e000) na\n", "line 1: an item .* outside a sequence"),
    (b"(0010,0010) PN [x]\n(fffe,e00d) na\n", "line 2: an item end"),
    (b"(0028,0010) US abc\n", r"line 1: \(0028,0010\) US"),
    (b"NoSuchKeyword PN [x]\n", "line 1: unknown keyword"),
    (b"(0008,0016) UI =NoSuchUID\n", "no UID keyword"),
])
def test_bad_dump_text_names_the_line(text: bytes, message: str) -> None:
    with pytest.raises(DumpTextError, match=message):
        read_dump_text(text)


def test_open_sequences_are_closed_at_the_end() -> None:
    ds = read_dump_text(b"(0040,0100) SQ\n(fffe,e000) -\n(0008,0060) CS [MR]\n")
    assert ds.ScheduledProcedureStepSequence[0].Modality == "MR"
