"""Every path that takes instances out of a series, study or patient (delete at each level, a
replacing copy that moved to another series, study or patient, reindex of vanished files)
leaves no series without instances, no study without series and no patient without studies,
and keeps every row that still holds something. On SQLite and PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from dicomkit.archive.store import Archive
from dicomkit.core.dataset import Dataset
from dicomkit.net.storage import safe_uid_path
from tests.support.datasets import make_instance, write_instance

# Rows of a level whose level below holds none of theirs.
ORPHANS = {
    "series": "SELECT count(*) FROM series WHERE NOT EXISTS "
              "(SELECT 1 FROM instances WHERE instances.series_pk = series.pk)",
    "studies": "SELECT count(*) FROM studies WHERE NOT EXISTS "
               "(SELECT 1 FROM series WHERE series.study_pk = studies.pk)",
    "patients": "SELECT count(*) FROM patients WHERE NOT EXISTS "
                "(SELECT 1 FROM studies WHERE studies.patient_pk = patients.pk)",
}

# The archive each test starts from: patient P-1 with study A (series A1: i1, i2; series A2:
# i3) and study B (series B1: i4); patient P-2 with study C (series C1: i5).
PLACES = {"i1": ("P-1", "A", "A1"), "i2": ("P-1", "A", "A1"), "i3": ("P-1", "A", "A2"),
          "i4": ("P-1", "B", "B1"), "i5": ("P-2", "C", "C1")}
START = (2, 3, 4, 5)


def orphans(archive: Archive) -> dict[str, int]:
    with archive.index.engine.connect() as connection:
        return {name: int(connection.execute(text(sql)).scalar() or 0)
                for name, sql in ORPHANS.items()}


def counts(archive: Archive) -> tuple[int, int, int, int]:
    stats = archive.index.stats()
    return stats["patients"], stats["studies"], stats["series"], stats["instances"]


class Corpus:
    def __init__(self, archive: Archive, folder: Path) -> None:
        self.archive = archive
        self.folder = folder
        self.uid = {name: f"1.2.826.0.1.3680043.10.9.{n}" for n, name in enumerate(
            ["A", "B", "C", "A1", "A2", "B1", "C1", "A3", "i1", "i2", "i3", "i4", "i5"], 1)}
        self.sent: dict[str, Dataset] = {}
        for number, (sop, (patient, study, series)) in enumerate(PLACES.items(), 1):
            self.send(sop, patient, study, series, number)

    def send(self, sop: str, patient: str, study: str, series: str, number: int = 1) -> None:
        ds = make_instance(patient_id=patient, study_uid=self.uid[study],
                           series_uid=self.uid[series], sop_uid=self.uid[sop], number=number)
        self.archive.import_file(str(write_instance(ds, self.folder / f"{len(self.sent)}")))
        self.sent[sop] = ds

    def unlink(self, sop: str) -> None:
        ds = self.sent[sop]
        os.unlink(safe_uid_path(self.archive.files_dir, ds.StudyInstanceUID,
                                ds.SeriesInstanceUID, ds.SOPInstanceUID))


@pytest.fixture
def corpus(archive: Archive, tmp_path: Path) -> Corpus:
    made = Corpus(archive, tmp_path / "incoming")
    assert counts(archive) == START
    assert orphans(archive) == {"series": 0, "studies": 0, "patients": 0}
    return made


def delete(level: str, name: str) -> Callable[[Corpus], None]:
    def run(corpus: Corpus) -> None:
        assert corpus.archive.delete(level, corpus.uid[name]) >= 1
    return run


def moved(sop: str, patient: str, study: str, series: str) -> Callable[[Corpus], None]:
    """A copy of ``sop`` re-sent with other identifiers (replace policy)."""
    def run(corpus: Corpus) -> None:
        corpus.send(sop, patient, study, series)
    return run


def files_gone(*sops: str) -> Callable[[Corpus], None]:
    def run(corpus: Corpus) -> None:
        for sop in sops:
            corpus.unlink(sop)
        assert corpus.archive.reindex()[2] == len(sops)
    return run


# path -> (what it does, (patients, studies, series, instances) after it)
PATHS: dict[str, tuple[Callable[[Corpus], None], tuple[int, int, int, int]]] = {
    "delete an instance its series keeps others of": (delete("IMAGE", "i1"), (2, 3, 4, 4)),
    "delete the last instance of a series": (delete("IMAGE", "i3"), (2, 3, 3, 4)),
    "delete the last instance of a study": (delete("IMAGE", "i4"), (2, 2, 3, 4)),
    "delete the last instance of a patient": (delete("IMAGE", "i5"), (1, 2, 3, 4)),
    "delete a series its study keeps others of": (delete("SERIES", "A2"), (2, 3, 3, 4)),
    "delete the last series of a study": (delete("SERIES", "B1"), (2, 2, 3, 4)),
    "delete the last series of a patient": (delete("SERIES", "C1"), (1, 2, 3, 4)),
    "delete a study its patient keeps others of": (delete("STUDY", "A"), (2, 2, 2, 2)),
    "delete the last study of a patient": (delete("STUDY", "C"), (1, 2, 3, 4)),
    "a copy moved to another series": (moved("i3", "P-1", "A", "A1"), (2, 3, 3, 5)),
    "a copy moved to another study": (moved("i4", "P-1", "A", "A3"), (2, 2, 4, 5)),
    "a copy moved to another patient": (moved("i5", "P-1", "A", "A1"), (1, 2, 3, 5)),
    "a copy whose series moved to another study": (moved("i4", "P-1", "A", "B1"),
                                                   (2, 2, 4, 5)),
    "a copy whose study moved to another patient": (moved("i5", "P-1", "C", "C1"),
                                                     (1, 3, 4, 5)),
    "a copy that stays where it was": (moved("i1", "P-1", "A", "A1"), START),
    "reindex of files gone": (files_gone("i3", "i4", "i5"), (1, 1, 1, 2)),
    "reindex of every file gone": (files_gone("i1", "i2", "i3", "i4", "i5"), (0, 0, 0, 0)),
}


@pytest.mark.parametrize("path", list(PATHS))
def test_no_row_is_left_empty(corpus: Corpus, path: str) -> None:
    action, expected = PATHS[path]
    action(corpus)
    assert orphans(corpus.archive) == {"series": 0, "studies": 0, "patients": 0}
    assert counts(corpus.archive) == expected
