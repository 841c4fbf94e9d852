"""Person Name matching per component group (PS3.5 §6.2.1 groups; PS3.4 C.2.2.2.1 and the
C.2.2.2.4 note on multi-component group names), on SQLite and PostgreSQL.

The same keys go to Patient's Name, matched in SQL on the index's group columns, and to
Operators' Name, matched by the Python predicate on the stored DICOM JSON: both halves of the
one matching engine must select the same names. The names are the examples of PS3.5 Annexes
H.3-1 (Japanese), I.2-1 (Korean) and J.3-1 (Chinese, GB18030).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dicomkit.archive.matching import Options, compile_query, pn_key_groups
from dicomkit.archive.store import Archive
from dicomkit.core.dataset import Dataset
from tests.support.databases import BACKENDS, index_database
from tests.support.datasets import make_instance, write_instance

NAMES = {
    "JP": ("Yamada^Tarou=山田^太郎=やまだ^たろう", ["", "ISO 2022 IR 87"]),
    "KR": ("Hong^Gildong=洪^吉洞=홍^길동", ["", "ISO 2022 IR 149"]),
    "CN": ("Wang^XiaoDong=王^小东=", ["GB18030"]),
    "EN": ("Doe^Jane", ["ISO_IR 100"]),
}


@pytest.fixture(scope="module", params=BACKENDS)
def names(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Archive]:
    folder = tmp_path_factory.mktemp(f"pn-{request.param}")
    with index_database(request.param, folder) as url:
        archive = Archive(str(folder / "data"), url, fsync=False)
        try:
            for patient_id, (name, charsets) in NAMES.items():
                ds = make_instance(patient_id=patient_id, SpecificCharacterSet=charsets)
                ds.PatientName = name
                ds.OperatorsName = name
                archive.import_file(str(write_instance(ds, folder / "incoming")))
            yield archive
        finally:
            archive.close()


def matches(archive: Archive, keyword: str, key: str, options: Options | None = None
            ) -> set[str]:
    query = Dataset()
    query.QueryRetrieveLevel = "SERIES"
    query.SpecificCharacterSet = "ISO_IR 192"
    query.PatientID = None
    query.set(keyword, key)
    compiled = compile_query(query, "study", options)
    # Patient's Name is an index column (SQL), Operators' Name is not (Python predicate).
    assert bool(compiled.post) == (keyword == "OperatorsName")
    rows: list[dict[str, Any]] = list(archive.index.search(compiled))
    return {row["00100020"]["Value"][0] for row in rows}


CASES = [
    ("Yamada*", {"JP"}),  # a one-group key is the alphabetic group
    ("Yamada^Tarou", {"JP"}),
    ("山田*", set()),  # ... so ideographic text there matches no alphabetic group
    ("=山田*", {"JP"}),
    ("=山田^太郎", {"JP"}),
    ("==やまだ*", {"JP"}),
    ("Yamada*=山田*", {"JP"}),
    ("Yamada*=洪*", set()),  # every group given must match
    ("Hong^Gildong=洪^吉洞=홍^길동", {"KR"}),
    ("==홍^길동", {"KR"}),
    ("*=洪?吉洞", {"KR"}),
    ("?ong*", {"KR"}),
    ("Wang^XiaoDong=王^小东", {"CN"}),
    ("=王^小东=", {"CN"}),
    ("=*", {"JP", "KR", "CN", "EN"}),  # every group universal
    ("*=*=*", {"JP", "KR", "CN", "EN"}),
    ("Doe^Jane", {"EN"}),
    ("=Doe*", set()),  # Doe^Jane has no ideographic group
    ('""', set()),  # empty value matching: every name here has a value
]


@pytest.mark.parametrize("keyword", ["PatientName", "OperatorsName"])
@pytest.mark.parametrize("key, expected", CASES)
def test_person_name_key_matches_per_component_group(names: Archive, keyword: str, key: str,
                                                     expected: set[str]) -> None:
    assert matches(names, keyword, key) == expected


FUZZY_CASES = [
    ("yamada", {"JP"}),  # case-insensitive, by the beginning
    ("山田", {"JP"}),  # a one-group key: any group, with fuzzy semantic matching
    ("홍", {"KR"}),
    ("=王", {"CN"}),
    ("=yamada", set()),  # a key with "=" still names its groups
]


@pytest.mark.parametrize("keyword", ["PatientName", "OperatorsName"])
@pytest.mark.parametrize("key, expected", FUZZY_CASES)
def test_fuzzy_person_name_matching_looks_in_every_group(names: Archive, keyword: str,
                                                         key: str, expected: set[str]) -> None:
    assert matches(names, keyword, key, Options(fuzzy=True)) == expected


def test_key_groups() -> None:
    assert pn_key_groups("Yamada*") == [(0, "Yamada*")]
    assert pn_key_groups("=山田*") == [(1, "山田*")]
    assert pn_key_groups("A=*=P") == [(0, "A"), (2, "P")]
    assert pn_key_groups("=山田", fuzzy=True) == [(1, "山田*")]


def test_the_index_keeps_each_group_in_its_column(names: Archive, tmp_path: Path) -> None:
    from sqlalchemy import text

    with names.index.engine.connect() as connection:
        row = connection.execute(text(
            "SELECT patient_name, patient_name_ideographic, patient_name_phonetic "
            "FROM patients WHERE patient_id = 'KR'")).one()
    assert tuple(row) == ("Hong^Gildong", "洪^吉洞", "홍^길동")
