"""A CD-style File-set made by DCMTK ``dcmmkdir`` imported into a running ``dicomkit serve``'s
archive (``dicomkit import ROOT/DICOMDIR --data --index``), on SQLite and PostgreSQL: the
instances are then found by C-FIND."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import dicomkit
from dicomkit.core.uid import generate_uid
from tests.support.databases import Backend
from tests.support.datasets import make_instance
from tests.support.servers import ServeFactory, dk_find_uids, serve_env

pytestmark = pytest.mark.dcmtk


def test_a_dcmmkdir_cd_imports_into_serve(backend: Backend, serve: ServeFactory,
                                          tmp_path: Path) -> None:
    cd = tmp_path / "cdrom"
    (cd / "DICOM").mkdir(parents=True)
    study, series = generate_uid(), generate_uid()
    sops = set()
    for number in range(1, 5):
        ds = make_instance(study_uid=study, series_uid=series, number=number,
                           patient_id="CD-1", StudyID="1", SeriesNumber="1",
                           InstanceNumber=str(number))
        dicomkit.write(ds, cd / "DICOM" / f"I{number:07d}")
        sops.add(str(ds.SOPInstanceUID))
    subprocess.run(["dcmmkdir", "+r", "+id", str(cd), "+D", str(cd / "DICOMDIR")], check=True,
                   capture_output=True, cwd=cd)
    data = tmp_path / "data"
    index = backend.new_index()
    server = serve(data, index=index)
    command = [sys.executable, "-m", "dicomkit.cli.main", "import", str(cd / "DICOMDIR"),
               "--data", str(data)] + (["--index", index] if index else [])
    done = subprocess.run(command, capture_output=True, text=True, env=serve_env(),
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "4 added" in done.stdout
    assert dk_find_uids(server.port, "IMAGE", "SOPInstanceUID", StudyInstanceUID=study) == sops
