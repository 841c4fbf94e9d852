"""The document's Concept Name as a Composite Object Instance level key (PS3.4 Table C.6-4,
Concept Name Code Sequence (0040,A043) with Code Value and Coding Scheme Designator), matched
by sequence matching (C.2.2.2.6) that the index answers in SQL from two instance columns
(migration 0006, filled from the stored metadata for instances indexed before it); on SQLite
and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from dicomkit import write
from dicomkit.archive.matching import QueryError, compile_query
from dicomkit.archive.schema import instances
from dicomkit.archive.store import Archive
from dicomkit.core.dataset import Dataset
from dicomkit.sr.templates import KeyObject, KeyObjectSelection
from tests.support.srtemplates import ct_series, make_report, seg_of


@pytest.fixture
def stored(archive: Archive, tmp_path: Path) -> dict[str, str]:
    """Two CT slices, a TID 1500 report (126000 DCM) and a key object selection (113000 DCM,
    Of Interest) in one study: name -> SOP Instance UID."""
    slices = ct_series(2)
    seg = seg_of(slices)
    report = make_report(slices, seg).to_dataset(like=slices[0], evidence=[*slices, seg])
    kos = KeyObjectSelection([KeyObject.from_dataset(s) for s in slices]).to_dataset(
        like=slices[0])
    named = {"ct1": slices[0], "ct2": slices[1], "report": report, "kos": kos}
    for name, ds in named.items():
        path = tmp_path / f"{name}.dcm"
        write(ds, path)
        archive.import_file(str(path))
    return {name: str(ds.SOPInstanceUID) for name, ds in named.items()}


def concept_key(level: str = "IMAGE", **item: Any) -> Dataset:
    identifier = Dataset()
    identifier.QueryRetrieveLevel = level
    identifier.SOPInstanceUID = None
    key = Dataset()
    for keyword, value in item.items():
        key.set(keyword, value)
    identifier.ConceptNameCodeSequence = [key]
    return identifier


def matches(archive: Archive, identifier: Dataset) -> dict[str, dict[str, Any]]:
    return {str(row["00080018"]["Value"][0]): row
            for row in archive.index.search(compile_query(identifier))}


def test_code_value_and_scheme_find_the_measurement_report(
        archive: Archive, stored: dict[str, str]) -> None:
    found = matches(archive, concept_key(CodeValue="126000", CodingSchemeDesignator="DCM"))
    assert set(found) == {stored["report"]}
    [item] = found[stored["report"]]["0040A043"]["Value"]  # returned as the key asked
    assert item["00080100"]["Value"] == ["126000"]
    assert item["00080104"]["Value"] == ["Imaging Measurement Report"]


def test_scheme_alone_and_a_wild_card_code_value(archive: Archive,
                                                 stored: dict[str, str]) -> None:
    assert set(matches(archive, concept_key(CodingSchemeDesignator="DCM"))) == {
        stored["report"], stored["kos"]}
    assert set(matches(archive, concept_key(CodeValue="1130*"))) == {stored["kos"]}
    assert set(matches(archive, concept_key(CodeValue="126000",
                                            CodingSchemeDesignator="SCT"))) == set()


def test_code_meaning_is_matched_by_the_sequence_predicate(archive: Archive,
                                                           stored: dict[str, str]) -> None:
    assert set(matches(archive, concept_key(CodeMeaning="Imaging Measurement*"))) == {
        stored["report"]}


def test_an_empty_item_is_universal_and_returns_the_sequence(archive: Archive,
                                                             stored: dict[str, str]) -> None:
    identifier = concept_key()
    found = matches(archive, identifier)
    assert set(found) == set(stored.values())
    assert "0040A043" not in found[stored["ct1"]]  # images have no concept name


def test_code_value_and_scheme_compile_to_sql_on_the_instance_columns() -> None:
    query = compile_query(concept_key(CodeValue="126000", CodingSchemeDesignator="DCM"))
    sql = " ".join(str(condition) for condition in query.where)
    assert str(instances.c.concept_code) in sql and str(instances.c.concept_scheme) in sql


def test_the_key_is_not_allowed_above_the_instance_level() -> None:
    with pytest.raises(QueryError, match="below the STUDY level"):
        compile_query(concept_key("STUDY", CodeValue="126000"))


def test_migration_0006_fills_the_columns_from_the_stored_metadata(
        archive: Archive, stored: dict[str, str]) -> None:
    from alembic import command
    from alembic.config import Config

    import dicomkit.archive.index as index_module

    config = Config()
    config.set_main_option("script_location",
                           str(Path(index_module.__file__).with_name("migrations")))
    with archive.index.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0005")
    archive.index.migrate()
    with archive.index.engine.connect() as connection:
        rows = dict(connection.execute(text(
            "SELECT sop_uid, concept_code || ' ' || concept_scheme FROM instances")).all())
    assert rows == {stored["report"]: "126000 DCM", stored["kos"]: "113000 DCM",
                    stored["ct1"]: " ", stored["ct2"]: " "}
    found = matches(archive, concept_key(CodeValue="126000", CodingSchemeDesignator="DCM"))
    assert set(found) == {stored["report"]}
