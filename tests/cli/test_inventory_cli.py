"""``dicomkit inventory create|read`` on the archive (SQLite and PostgreSQL indexes)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from dicomkit import read
from dicomkit.archive.store import Archive
from dicomkit.cli.main import main
from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import generate_uid
from tests.support.inventory import assert_inventory_valid, walk_tree


def run(archive: Archive, *args: str) -> int:
    return main([*args, "--data", archive.data_dir, "--index", archive.index.url])


def test_create_writes_the_whole_archive_and_read_summarises_it(
        archive: Archive, add: Callable[..., Dataset], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    study = generate_uid()
    made = [add(patient_id="CLI-1", study_uid=study, number=n) for n in (1, 2)]
    made.append(add(patient_id="CLI-2"))
    out = tmp_path / "inv"
    assert run(archive, "inventory", "create", "--out", str(out), "--level", "instance",
               "--max-records", "2") == 0
    root = capsys.readouterr().out.strip().rsplit(" ", 1)[-1]
    files = {p.stem: p for p in out.glob("*.dcm")}
    assert root in files and len(files) >= 3
    for path in files.values():
        assert_inventory_valid(path)
    assert sorted(walk_tree(files, root)) == sorted({str(m.StudyInstanceUID) for m in made})
    assert main(["inventory", "read", str(files[root]), "--json"]) == 0
    about = json.loads(capsys.readouterr().out)
    assert about["total_studies"] == 2 and about["level"] == "INSTANCE"
    assert about["incorporated"]
    leaf = next(p for p in files.values() if read(p).get("InventoriedStudiesSequence"))
    assert main(["inventory", "read", str(leaf), "--studies"]) == 0
    assert "instances" in capsys.readouterr().out


def test_scope_and_bad_input(archive: Archive, add: Callable[..., Dataset], tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    add(patient_id="IN-SCOPE")
    add(patient_id="OUT")
    out = tmp_path / "scoped"
    assert run(archive, "inventory", "create", "--out", str(out),
               "--scope", "PatientID=IN-SCOPE") == 0
    [path] = out.glob("*.dcm")
    assert [s.PatientID for s in read(path).InventoriedStudiesSequence] == ["IN-SCOPE"]
    capsys.readouterr()
    assert run(archive, "inventory", "create", "--out", str(out),
               "--scope", "Modality=CT") == 2
    assert "below the STUDY level" in capsys.readouterr().err
    assert main(["inventory", "read", str(tmp_path / "missing.dcm")]) == 1
    assert "missing.dcm" in capsys.readouterr().err
