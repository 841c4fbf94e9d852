"""``dicomkit wrap`` / ``dicomkit unwrap``: a document into the study of another instance and
back byte for byte, with exit codes scripts can trust (0 done, 1 bad input, 2 usage)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import dicomkit
from dicomkit.cli.main import main
from dicomkit.core.uid import registered
from tests.support import documents as docs
from tests.support.datasets import make_instance, write_instance
from tests.support.dciodvfy import assert_valid
from tests.support.video import h264_mp4

SAMPLES = {"report.pdf": docs.PDF, "note.xml": docs.CDA, "femur.stl": docs.STL_BINARY,
           "model.obj": docs.OBJ, "model.mtl": docs.MTL, "photo.jpg": docs.jpeg(),
           "clip.mp4": h264_mp4()}


@pytest.mark.parametrize("name", list(SAMPLES))
def test_wrap_like_then_unwrap_gives_the_same_bytes(tmp_path: Path, name: str) -> None:
    ct = write_instance(make_instance(patient_id="P-9", patient_name="Roe^Ann",
                                      AccessionNumber="ACC1"), tmp_path / "ct")
    doc = tmp_path / name
    doc.write_bytes(SAMPLES[name])
    wrapped = tmp_path / "wrapped.dcm"
    assert main(["wrap", str(doc), str(wrapped), "--like", str(ct)]) == 0
    ds, like = dicomkit.read(wrapped), dicomkit.read(ct)
    assert (ds.PatientID, ds.PatientName, ds.StudyInstanceUID, ds.AccessionNumber) == (
        "P-9", like.PatientName, like.StudyInstanceUID, "ACC1")
    assert ds.SeriesInstanceUID != like.SeriesInstanceUID
    out = tmp_path / "back"
    assert main(["unwrap", str(wrapped), str(out)]) == 0
    assert out.read_bytes() == SAMPLES[name]


def test_wrap_options_and_default_title(tmp_path: Path) -> None:
    doc = tmp_path / "discharge.pdf"
    doc.write_bytes(docs.PDF)
    out = tmp_path / "out.dcm"
    assert main(["wrap", str(doc), str(out), "--patient-id", "X1", "--patient-name",
                 "Doe^John", "--study-uid", "1.2.826.0.1.3680043.2.1", "--accession", "A7",
                 "--series-number", "12"]) == 0
    ds = dicomkit.read(out)
    assert (ds.PatientID, ds.StudyInstanceUID, ds.AccessionNumber, ds.SeriesNumber) == (
        "X1", "1.2.826.0.1.3680043.2.1", "A7", 12)
    assert ds.DocumentTitle == "discharge.pdf"
    assert_valid(out)
    assert main(["wrap", str(doc), str(out), "--title", "Discharge letter"]) == 0
    assert dicomkit.read(out).DocumentTitle == "Discharge letter"


def test_wrap_endoscopic_video(tmp_path: Path) -> None:
    doc = tmp_path / "scope.mp4"
    doc.write_bytes(h264_mp4())
    out = tmp_path / "scope.dcm"
    assert main(["wrap", str(doc), str(out), "--endoscopic"]) == 0
    assert dicomkit.read(out).SOPClassUID == registered("VideoEndoscopicImageStorage")
    assert_valid(out)


def test_unwrap_to_stdout(tmp_path: Path) -> None:
    doc = tmp_path / "note.xml"
    doc.write_bytes(docs.CDA)
    wrapped = tmp_path / "note.dcm"
    assert main(["wrap", str(doc), str(wrapped)]) == 0
    result = subprocess.run([sys.executable, "-m", "dicomkit.cli.main", "unwrap", "-v",
                             str(wrapped), "-"], capture_output=True, check=False)
    assert result.returncode == 0
    assert result.stdout == docs.CDA
    assert b"text/xml" in result.stderr


def test_bad_input_exits_1_with_the_reason(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    assert main(["wrap", str(empty), str(tmp_path / "o.dcm")]) == 1
    assert "empty (0 bytes)" in capsys.readouterr().err
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(h264_mp4()[:500])
    assert main(["wrap", str(truncated), str(tmp_path / "o.dcm")]) == 1
    assert "MP4" in capsys.readouterr().err
    assert main(["wrap", str(tmp_path / "missing.pdf"), str(tmp_path / "o.dcm")]) == 1
    assert "No such file" in capsys.readouterr().err
    doc = tmp_path / "r.pdf"
    doc.write_bytes(docs.PDF)
    assert main(["wrap", str(doc), str(tmp_path / "o.dcm"), "--like", str(doc)]) == 1
    assert not (tmp_path / "o.dcm").exists()
    ct = write_instance(make_instance(), tmp_path / "ct")
    capsys.readouterr()
    assert main(["unwrap", str(ct), str(tmp_path / "out")]) == 1
    assert "16-bit" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_usage_errors_exit_2() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["wrap"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["unwrap", "only-one"])
    assert exc.value.code == 2


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("wrap", "unwrap"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        assert "examples:" in text and f"dicomkit {command} " in text
