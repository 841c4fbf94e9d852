"""web/_qido.pyx (QIDO-RS STUDY results spliced from the stored texts) against the general
route it stands for: ``ArchiveIndex.merged`` then ``qido.result_text``. Where the splice
answers it must give exactly those bytes; where the stored text is not what the index writes
(whitespace, other escapes or number spellings, bulk data, a foreign Study Instance UID) it
must decline. On real files' attributes (pydicom's test and character set files: Japanese,
Korean, Greek … names), odd values, and fixed-seed mutations of the stored text."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from dicomkit import native, read
from dicomkit.archive.index import ArchiveIndex, StoredStudy
from dicomkit.archive.records import dumps, record_for
from dicomkit.web import qido

compiled = native.compiled("dicomkit.web._qido")
BASE = "http://h:1/dicom-web"
COUNTS = (0x00201206, 0x00201208)


def _searches() -> list[qido.Search]:
    return [qido.build_search("studies", {}, params, 100) for params in (
        [], [("includefield", "all")], [("PatientName", "SMITH*"), ("includefield",
                                                                     "PatientAge,00101030")],
        [("includefield", "OtherPatientIDsSequence,TimezoneOffsetFromUTC")])]


def _check(index: ArchiveIndex, stored: StoredStudy) -> int:
    """Both routes agree for every search; the number of searches the splice answered."""
    answered = 0
    for search in _searches():
        plan = qido.text_plan(search, BASE)
        assert plan is not None
        spliced = compiled.study_json(plan, stored.study_uid, stored.patient, stored.study,
                                      stored.modalities, stored.sop_classes,
                                      stored.count_tags, stored.counts)
        if spliced is not None:
            general = qido.result_text(search, index.merged(stored), BASE).encode("utf-8")
            assert spliced == general
            json.loads(spliced)
            answered += 1
    return answered


def _stored(patient: Any, study: Any, uid: str = "1.2.3", modalities: str = "\\CT\\MR\\",
            classes: str = "\\1.2.840.10008.5.1.4.1.1.2\\") -> StoredStudy:
    return StoredStudy(uid, patient if isinstance(patient, str) else dumps(patient),
                       study if isinstance(study, str) else dumps(study), modalities, classes,
                       COUNTS, (1, 12))


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.dcm") if p.stat().st_size < 4_000_000)


def test_real_files(tmp_path: Path, pydicom_files: Path, charset_files: Path) -> None:
    index = ArchiveIndex(str(tmp_path / "i.sqlite"))
    answered = 0
    for path in _files(pydicom_files) + _files(charset_files):
        try:
            record = record_for(read(path), "x.dcm", 1, "1.2.840.10008.1.2.1")
        except Exception:  # noqa: BLE001 - files the archive would refuse: not indexed
            continue
        attrs = record.level_attrs
        answered += _check(index, _stored(attrs.get("PATIENT", {}), attrs.get("STUDY", {}),
                                          record.study_uid))
    assert answered > 100


def test_odd_values(tmp_path: Path) -> None:
    index = ArchiveIndex(str(tmp_path / "i.sqlite"))
    odd = ["", "*", "A\\B", "quote\"d", "back\\slash", "tab\there", "\x01", "é", "山田",
           "\u2028", "\x7f", "😀"]
    for value in odd:
        patient = {"00100010": {"vr": "PN", "Value": [{"Alphabetic": value}]},
                   "00080005": {"vr": "CS", "Value": ["ISO_IR 192"]},
                   "00101030": {"vr": "DS", "Value": [70.5, 1e-05, 12, -0.0]}}
        study = {"0020000D": {"vr": "UI", "Value": ["1.2.3"]},
                 "00081030": {"vr": "LO", "Value": [value, None]},
                 "00101000": {"vr": "SQ", "Value": [{"00100020": {"vr": "LO",
                                                                  "Value": [value]}}]}}
        assert _check(index, _stored(patient, study, modalities=f"\\{value}\\")) > 0
    bulk = {"0020000D": {"vr": "UI", "Value": ["1.2.3"]},
            "00091010": {"vr": "OB", "BulkDataURI": "bulkdata/00091010"}}
    # Only includefield=all returns it, and declines: the general route drops the reference.
    assert _check(index, _stored({}, bulk)) == 3
    assert _check(index, _stored({}, {"0020000D": {"vr": "UI", "Value": ["9.9"]}})) == 0
    assert _check(index, _stored('{"00100020": {"vr":"LO"}}', "{}")) == 0  # whitespace
    assert _check(index, _stored('{"00101030":{"vr":"DS","Value":[70.50]}}', "{}")) == 0
    assert _check(index, _stored('{"00100020":{"vr":"LO","Value":["\\u00e9"]}}', "{}")) == 0


def test_mutated_stored_text(tmp_path: Path) -> None:
    """Fixed-seed mutations: the splice answers only with the general route's bytes, and
    never fails on text that is not JSON."""
    index = ArchiveIndex(str(tmp_path / "i.sqlite"))
    rng = random.Random(20261205)
    study = dumps({"0020000D": {"vr": "UI", "Value": ["1.2.3"]},
                   "00081030": {"vr": "LO", "Value": ["HEAD", None]},
                   "00201208": {"vr": "IS", "Value": [3]},
                   "00101000": {"vr": "SQ", "Value": [{"00100020": {"vr": "LO",
                                                                    "Value": ["X"]}}]}})
    search = _searches()[1]
    plan = qido.text_plan(search, BASE)
    answered = 0
    for _ in range(2500):
        text = list(study)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(text) + 1)
            kind = rng.random()
            if kind < 0.4 and at < len(text):
                text[at] = rng.choice('{}[]",:0123456789.-eE\\ntru lsafN')
            elif kind < 0.7:
                del text[at:at + rng.randint(1, 4)]
            else:
                text[at:at] = rng.choice(['"', "\\", "1", "-0", "{}", "[]", ",", "null"])
        mutated = "".join(text)
        stored = _stored("{}", mutated)
        spliced = compiled.study_json(plan, stored.study_uid, stored.patient, stored.study,
                                      stored.modalities, stored.sop_classes, stored.count_tags,
                                      stored.counts)
        if spliced is None:
            continue
        answered += 1
        assert spliced == qido.result_text(search, index.merged(stored), BASE).encode("utf-8")
    assert answered > 50
