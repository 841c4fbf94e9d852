"""DICOMDIRs against independent readers and writers: DCMTK ``dcmmkdir``/``dcmgpdir``, GDCM
``gdcmgendir`` and pydicom's ``FileSet`` read to the same records as dicomkit; the DICOMDIRs dicomkit writes pass
``dcmdump`` and dicom3tools ``dciodvfy`` (Basic Directory IOD), are read by pydicom to the same
tree and are extended by ``dcmmkdir --append``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import dicomkit
from dicomkit.core.uid import generate_uid, registered
from dicomkit.media import FileSet, create
from tests.support.datasets import make_instance, pydicom_data_dir, write_instance
from tests.support.dciodvfy import assert_valid, verify
from tests.support.media import our_tree, pydicom_tree

pytestmark = pytest.mark.dcmtk
DICOMDIR_TESTS = pydicom_data_dir() / "test_files" / "dicomdirtests"


def _study(root: Path, count: int = 4) -> list[str]:
    study, series = generate_uid(), generate_uid()
    uids = []
    for number in range(1, count + 1):
        ds = make_instance(study_uid=study, series_uid=series, number=number, StudyID="7",
                           SeriesNumber="2", InstanceNumber=str(number),
                           AccessionNumber="ACC1", StudyDescription="Chest")
        write_instance(ds, root / "incoming")
        uids.append(str(ds.SOPInstanceUID))
    mr = make_instance(patient_id="DK-9", patient_name="Müller^Jörg", StudyID="1",
                       SeriesNumber="1", modality="MR", SpecificCharacterSet="ISO_IR 100")
    write_instance(mr, root / "incoming")
    return uids + [str(mr.SOPInstanceUID)]


def _in_dcmtk_names(root: Path, count: int = 4) -> Path:
    """Instances at File IDs already (dcmmkdir refuses other names)."""
    target = root / "IMAGES"
    target.mkdir(parents=True)
    study, series = generate_uid(), generate_uid()
    for number in range(1, count + 1):
        ds = make_instance(study_uid=study, series_uid=series, number=number, StudyID="7",
                           SeriesNumber="2", InstanceNumber=str(number))
        dicomkit.write(ds, target / f"IM{number:06d}")
    dicomkit.write(make_instance(patient_id="DK-2", StudyID="3", SeriesNumber="1",
                                 modality="MR"), target / "MR000001")
    return root


@pytest.mark.parametrize("tool", ["dcmmkdir", "dcmgpdir"])
def test_dcmtk_dicomdirs_read_to_the_same_records_as_pydicom(tmp_path: Path, tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} (DCMTK) is not installed")
    root = _in_dcmtk_names(tmp_path / "cd")
    subprocess.run([tool, "+r", "+id", str(root), "+D", str(root / "DICOMDIR")], check=True,
                   capture_output=True, cwd=root)
    ours = our_tree(root / "DICOMDIR")
    assert ours == pydicom_tree(root / "DICOMDIR")
    assert [row[1] for row in ours].count("IMAGE") == 5
    fs = FileSet.read(root)
    for record in fs.instances():
        fs.verify(record)


def _sorted_tree(rows: list[tuple[int, str, str, str]]) -> list[tuple[str, ...]]:
    """Each record as its path from the root (types and keys): the same tree whatever order
    a writer gives siblings in (gdcmgendir orders IMAGE records by SOP Instance UID text,
    DCMTK by the order of the files)."""
    paths, stack = [], []
    for depth, kind, key, file_id in rows:
        stack[depth:] = [f"{kind}:{key}:{file_id}"]
        paths.append(tuple(stack))
    return sorted(paths)


def test_gdcmgendir_dicomdir_reads_as_dcmmkdirs(tmp_path: Path) -> None:
    """GDCM ``gdcmgendir -r`` and DCMTK ``dcmmkdir +r`` over the same files: dicomkit reads the
    same records to the same tree (siblings in another order) as pydicom does, and each
    referenced file is verified. gdcmgendir copies a Latin-1 Patient's Name into the PATIENT
    record without the Specific Character Set (dcmmkdir writes it): dciodvfy reports that, and
    only that; dicomkit reads the bytes leniently as Latin-1 (docs/media.md)."""
    if shutil.which("gdcmgendir") is None:
        pytest.fail("gdcmgendir (GDCM, Debian package libgdcm-tools) is not installed")
    gdcm_root = _in_dcmtk_names(tmp_path / "gdcm")
    latin = make_instance(patient_id="DK-9", patient_name="Müller^Jörg", StudyID="1",
                          SeriesNumber="1", modality="MR", SpecificCharacterSet="ISO_IR 100")
    dicomkit.write(latin, gdcm_root / "IMAGES" / "MR000002")
    dcmtk_root = tmp_path / "dcmtk"
    shutil.copytree(gdcm_root, dcmtk_root)
    subprocess.run(["gdcmgendir", "-r", "-i", ".", "-o", "DICOMDIR"], check=True,
                   capture_output=True, cwd=gdcm_root)
    subprocess.run(["dcmmkdir", "+r", "+id", str(dcmtk_root), "+D",
                    str(dcmtk_root / "DICOMDIR")], check=True, capture_output=True,
                   cwd=dcmtk_root)
    gdcm = our_tree(gdcm_root / "DICOMDIR")
    assert gdcm == pydicom_tree(gdcm_root / "DICOMDIR")
    assert [row[1] for row in gdcm].count("IMAGE") == 6
    assert _sorted_tree(gdcm) == _sorted_tree(our_tree(dcmtk_root / "DICOMDIR"))
    fs = FileSet.read(gdcm_root)
    for record in fs.instances():
        fs.verify(record)
    patients = {r.dataset.get("PatientID"): r for r in fs.walk() if r.record_type == "PATIENT"}
    assert str(patients["DK-9"].dataset.PatientName) == "Müller^Jörg"
    assert "SpecificCharacterSet" not in patients["DK-9"].dataset
    verdict = verify(gdcm_root / "DICOMDIR")
    assert verdict.iod == "BasicDirectory"
    assert verdict.errors and all(
        "Patient's Name" in line or "invalid data values" in line for line in verdict.errors
    ), verdict.errors
    assert_valid(dcmtk_root / "DICOMDIR")


@pytest.mark.parametrize("name", ["DICOMDIR", "DICOMDIR-reordered", "DICOMDIR-implicit"])
def test_pydicom_sample_dicomdirs_read_alike(name: str) -> None:
    """pydicom's DICOMDIR test set: a real CD layout, records stored out of tree order,
    Implicit VR Little Endian (older writers)."""
    assert our_tree(DICOMDIR_TESTS / name) == pydicom_tree(DICOMDIR_TESTS / name)


def test_a_file_set_without_patient_records_is_read() -> None:
    """pydicom refuses this one (a record type it cannot key); dicomkit keeps the records."""
    rows = our_tree(DICOMDIR_TESTS / "DICOMDIR-nopatient")
    assert rows and "PATIENT" not in {row[1] for row in rows}


def test_ours_pass_dcmdump_dciodvfy_and_pydicom(tmp_path: Path, dcmtk: object) -> None:
    root = tmp_path / "cd"
    _study(root)
    create(root, fileset_id="DICOMKIT")
    dicomdir = root / "DICOMDIR"
    dump = subprocess.run(["dcmdump", "-dc", "+L", str(dicomdir)], capture_output=True,
                          encoding="latin-1", check=False)
    assert dump.returncode == 0, dump.stderr
    assert "E:" not in dump.stderr and "W:" not in dump.stderr, dump.stderr
    assert "DirectoryRecordSequence" in dump.stdout
    verdict = assert_valid(dicomdir)
    assert verdict.iod == "BasicDirectory"
    ours = our_tree(dicomdir)
    assert ours == pydicom_tree(dicomdir)
    patients = [i for i, row in enumerate(ours) if row[1] == "PATIENT"]
    subtrees = sorted([row[1] for row in ours[start:end]]
                      for start, end in zip(patients, patients[1:] + [len(ours)], strict=True))
    assert subtrees == [["PATIENT", "STUDY", "SERIES", "IMAGE"],
                        ["PATIENT", "STUDY", "SERIES", "IMAGE", "IMAGE", "IMAGE", "IMAGE"]]


def test_dcmmkdir_appends_to_ours(tmp_path: Path) -> None:
    """DCMTK reads our DICOMDIR as its own (``--append`` parses it, then adds a file)."""
    root = tmp_path / "cd"
    _study(root)
    create(root)
    extra = make_instance(patient_id="DK-5", StudyID="5", SeriesNumber="1", InstanceNumber="1")
    dicomkit.write(extra, root / "EXTRA")
    subprocess.run(["dcmmkdir", "--append", "+id", str(root), "+D", str(root / "DICOMDIR"),
                    "EXTRA"], check=True, capture_output=True, cwd=root)
    fs = FileSet.read(root)
    assert fs.find(str(extra.SOPInstanceUID)) is not None
    assert len(list(fs.instances())) == 6


def test_read_write_read_through_dcmtk_is_stable(tmp_path: Path) -> None:
    root = _in_dcmtk_names(tmp_path / "cd")
    subprocess.run(["dcmmkdir", "+r", "+id", str(root), "+D", str(root / "DICOMDIR")],
                   check=True, capture_output=True, cwd=root)
    before = our_tree(root)
    FileSet.read(root).write()
    assert our_tree(root) == before
    assert_valid(root / "DICOMDIR")
    assert pydicom_tree(root / "DICOMDIR") == before


def test_a_profile_decides_the_transfer_syntaxes(tmp_path: Path) -> None:
    """STD-GEN-CD holds Explicit VR Little Endian only: a JPEG Baseline file is decoded into
    it (never a new lossy step); STD-GEN-DVD-JPEG keeps it as it is; an Implicit VR file is
    rewritten for both."""
    source = pydicom_data_dir() / "test_files" / "SC_rgb_jpeg_dcmtk.dcm"
    original = dicomkit.read(source)
    expected = original.pixel_array
    for profile, kept in (("STD-GEN-CD", False), ("STD-GEN-DVD-JPEG", True)):
        root = tmp_path / profile
        root.mkdir()
        shutil.copy(source, root / "a.dcm")
        implicit = make_instance(StudyID="1", SeriesNumber="1")
        dicomkit.write(implicit, root / "b.dcm", transfer_syntax="ImplicitVRLittleEndian")
        result = create(root, profile=profile)
        assert result.converted == (1 if kept else 2)
        fs = FileSet.read(root)
        jpeg = fs.find(str(original.SOPInstanceUID))
        assert jpeg is not None
        stored = dicomkit.read(fs.path(jpeg))
        wanted = registered("JPEGBaseline8Bit") if kept else registered("ExplicitVRLittleEndian")
        assert jpeg.transfer_syntax_uid == wanted == stored.transfer_syntax.uid
        assert np.array_equal(stored.pixel_array, expected)
        assert_valid(root / "DICOMDIR")


def test_document_records_pass_dciodvfy(tmp_path: Path) -> None:
    """SR DOCUMENT (pydicom's test-SR.dcm) and ENCAP DOC (a wrapped PDF) records beside an
    IMAGE: the keys PS3.3 F.5.21/F.5.29 list, checked by dciodvfy and read alike by pydicom."""
    from dicomkit.iod.encapsulated import wrap
    from tests.support import documents as docs

    root = tmp_path / "cd"
    (root / "in").mkdir(parents=True)
    shutil.copy(pydicom_data_dir() / "test_files" / "test-SR.dcm", root / "in" / "sr.dcm")
    dicomkit.write(wrap(docs.PDF, patient_id="DOC-1"), root / "in" / "pdf.dcm")
    write_instance(make_instance(patient_id="DOC-1", StudyID="1", SeriesNumber="1"),
                   root / "in")
    result = create(root)
    assert not result.skipped, result.skipped
    kinds = sorted(r.record_type for r in FileSet.read(root).instances())
    assert kinds == ["ENCAP DOC", "IMAGE", "SR DOCUMENT"]
    assert_valid(root / "DICOMDIR")
    assert our_tree(root) == pydicom_tree(root / "DICOMDIR")
