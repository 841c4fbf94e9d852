"""PS3.4 C.2.2.2 attribute matching on the archive index, on SQLite and on PostgreSQL.

One small corpus per back end (built once per module, queried read-only):

| study | patient              | date / time       | modalities | series (instances) |
|-------|----------------------|-------------------|------------|--------------------|
| S1    | DK-1 Doe^Jane        | 20240105 081500   | CT, MR     | S1a CT (2), S1b MR (1) |
| S2    | DK-2 Smith^John      | 20240210 143000   | US         | S2a (1)            |
| S3    | DK-3 smith^anna      | 20231231 235959   | MR         | S3a (2)            |
| S4    | DK-1 Doe^Jane        | empty, empty      | CT         | S4a (1)            |
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dicomkit.archive.matching import Options, QueryError, compile_query
from dicomkit.archive.store import Archive
from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import generate_uid
from dicomkit.services.qr import response_identifier
from tests.support.databases import BACKENDS, index_database
from tests.support.datasets import MR_IMAGE_STORAGE, make_instance, write_instance


def code(value: str, scheme: str = "99DK", meaning: str = "") -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning or value
    return item


@dataclass
class Corpus:
    archive: Archive
    studies: dict[str, str] = field(default_factory=dict)  # "S1" -> Study Instance UID
    series: dict[str, str] = field(default_factory=dict)  # "S1a" -> Series Instance UID
    instances: dict[str, list[str]] = field(default_factory=dict)  # "S1a" -> SOP UIDs

    def name_of(self, uid: str) -> str:
        return next(name for name, value in {**self.studies, **self.series}.items()
                    if value == uid)


SERIES_PLAN: list[tuple[str, str, dict[str, Any], int]] = [
    # (series, study, attributes, instances)
    ("S1a", "S1", {"modality": "CT", "OperatorsName": "Tech^Alpha"}, 2),
    ("S1b", "S1", {"modality": "MR", "sop_class": MR_IMAGE_STORAGE}, 1),
    ("S2a", "S2", {"modality": "US", "PatientAge": "030Y"}, 1),
    ("S3a", "S3", {"modality": "MR", "sop_class": MR_IMAGE_STORAGE,
                   "OperatorsName": "Tech^Beta", "PatientAge": "045Y",
                   "AnatomicRegionSequence": [code("T-A0100", "SRT", "Brain")]}, 2),
    ("S4a", "S4", {"modality": "CT"}, 1),
]
STUDY_PLAN: dict[str, dict[str, Any]] = {
    "S1": {"patient_id": "DK-1", "patient_name": "Doe^Jane", "study_date": "20240105",
           "study_time": "081500", "ContentDate": "20240105",
           "StudyDescription": "CT 50%_max", "AccessionNumber": "ACC1",
           "AdditionalPatientHistory": "history one",
           "ProcedureCodeSequence": [code("CT-CHEST")]},
    "S2": {"patient_id": "DK-2", "patient_name": "Smith^John", "study_date": "20240210",
           "study_time": "143000", "ContentDate": "20240210",
           "StudyDescription": "CT 50ab-max", "AccessionNumber": "ACC2",
           "AdditionalPatientHistory": "history two",
           "ProcedureCodeSequence": [code("US-ABD")]},
    "S3": {"patient_id": "DK-3", "patient_name": "smith^anna", "study_date": "20231231",
           "study_time": "235959", "ContentDate": "20231231",
           "StudyDescription": "Brain", "AccessionNumber": "ACC3",
           "AdditionalPatientHistory": "history three",
           "ProcedureCodeSequence": [code("MR-HEAD"), code("CT-CHEST", "LN")]},
    "S4": {"patient_id": "DK-1", "patient_name": "Doe^Jane", "study_date": "",
           "study_time": "", "StudyDescription": None, "AccessionNumber": "ACC10"},
}


@pytest.fixture(scope="module", params=BACKENDS)
def corpus(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    folder: Path = tmp_path_factory.mktemp(f"corpus-{request.param}")
    with index_database(request.param, folder) as url:
        found = Corpus(Archive(str(folder / "data"), url, fsync=False))
        try:
            for name in STUDY_PLAN:
                found.studies[name] = generate_uid()
            for series_name, study_name, attributes, count in SERIES_PLAN:
                found.series[series_name] = generate_uid()
                found.instances[series_name] = []
                for number in range(1, count + 1):
                    ds = make_instance(study_uid=found.studies[study_name],
                                       series_uid=found.series[series_name], number=number,
                                       **STUDY_PLAN[study_name], **attributes)
                    found.archive.import_file(str(write_instance(ds, folder / "incoming")))
                    found.instances[series_name].append(ds.SOPInstanceUID)
            yield found
        finally:
            found.archive.close()


def identifier(level: str, **keys: Any) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        ds.set(keyword, value)
    return ds


def search(corpus: Corpus, level: str, *, model: str = "study", options: Options | None = None,
           limit: int | None = None, offset: int = 0, **keys: Any) -> list[dict[str, Any]]:
    query = compile_query(identifier(level, **keys), model, options)
    return list(corpus.archive.index.search(query, limit=limit, offset=offset))


def value(attrs: dict[str, Any], tag: str) -> Any:
    values = attrs.get(tag, {}).get("Value") or []
    return values[0] if len(values) == 1 else values


def studies(corpus: Corpus, **keys: Any) -> list[str]:
    """The matching studies at the STUDY level, by corpus name, in index order."""
    options = keys.pop("options", None)
    rows = search(corpus, "STUDY", options=options, **keys)
    return [corpus.name_of(value(row, "0020000D")) for row in rows]


# -- C.2.2.2.1 single value matching ---------------------------------------------------------
def test_single_value_matching_on_an_indexed_key(corpus: Corpus) -> None:
    assert studies(corpus, PatientID="DK-2") == ["S2"]


def test_single_value_matching_is_case_sensitive_for_non_pn(corpus: Corpus) -> None:
    assert studies(corpus, StudyDescription="Brain") == ["S3"]
    assert studies(corpus, StudyDescription="brain") == []


def test_single_value_matching_on_a_date(corpus: Corpus) -> None:
    assert studies(corpus, StudyDate="20240210") == ["S2"]


def test_single_value_matching_on_a_non_indexed_key_uses_the_post_filter(
        corpus: Corpus) -> None:
    query = compile_query(identifier("STUDY", PatientAge="045Y"))
    assert query.where == [] and len(query.post) == 1
    assert studies(corpus, PatientAge="045Y") == ["S3"]


def test_indexed_keys_compile_to_sql_and_other_keys_to_predicates() -> None:
    query = compile_query(identifier("STUDY", PatientName="Doe*", PatientAge="045Y",
                                     StudyDate="20240101-"))
    assert len(query.where) == 2
    assert len(query.post) == 1


def test_specific_character_set_is_never_matched(corpus: Corpus) -> None:
    assert studies(corpus, SpecificCharacterSet="ISO_IR 192") == ["S1", "S2", "S3", "S4"]


def test_timezone_offset_from_utc_is_never_matched(corpus: Corpus) -> None:
    # C.2.2.2.5: it says in which timezone the identifier's dates and times are.
    assert studies(corpus, TimezoneOffsetFromUTC="+0100", StudyDate="20240101-") == ["S1", "S2"]


# -- C.2.2.2.2 list of UID matching ----------------------------------------------------------
def test_list_of_uid_matching(corpus: Corpus) -> None:
    uids = [corpus.studies["S3"], corpus.studies["S1"]]
    assert studies(corpus, StudyInstanceUID=uids) == ["S1", "S3"]


def test_list_of_uid_matching_at_the_series_level(corpus: Corpus) -> None:
    rows = search(corpus, "SERIES", SeriesInstanceUID=[corpus.series["S2a"],
                                                       corpus.series["S4a"]])
    assert [corpus.name_of(value(r, "0020000E")) for r in rows] == ["S2a", "S4a"]


# -- C.2.2.2.3 universal matching ------------------------------------------------------------
def test_universal_matching_by_zero_length(corpus: Corpus) -> None:
    assert studies(corpus, PatientName=None, StudyDate=None) == ["S1", "S2", "S3", "S4"]


def test_universal_matching_by_a_lone_star(corpus: Corpus) -> None:
    # S4 has an empty Study Date: universal matching still selects it.
    assert studies(corpus, PatientName="*", StudyDate="*") == ["S1", "S2", "S3", "S4"]


# -- C.2.2.2.4 wild card matching ------------------------------------------------------------
def test_wildcard_star_matches_any_sequence(corpus: Corpus) -> None:
    assert studies(corpus, StudyDescription="*max") == ["S1", "S2"]


def test_wildcard_question_mark_matches_one_character(corpus: Corpus) -> None:
    assert studies(corpus, AccessionNumber="ACC?") == ["S1", "S2", "S3"]


def test_wildcard_treats_sql_percent_and_underscore_literally(corpus: Corpus) -> None:
    assert studies(corpus, StudyDescription="CT 50%_*") == ["S1"]
    assert studies(corpus, StudyDescription="CT 5_*") == []
    assert studies(corpus, StudyDescription="CT 50?b-max") == ["S2"]


def test_wildcard_on_a_non_indexed_key(corpus: Corpus) -> None:
    assert studies(corpus, AdditionalPatientHistory="history t*") == ["S2", "S3"]


# -- person names: case and fuzzy options (C.2.2.2.1, C.2.2.2.4 notes) -------------------------
def test_person_name_wildcard_is_case_sensitive_by_default(corpus: Corpus) -> None:
    assert studies(corpus, PatientName="Smith*") == ["S2"]
    assert studies(corpus, PatientName="smith*") == ["S3"]


def test_person_name_single_value_is_case_sensitive_by_default(corpus: Corpus) -> None:
    assert studies(corpus, PatientName="SMITH^JOHN") == []


def test_person_name_case_insensitive_option(corpus: Corpus) -> None:
    options = Options(case_insensitive_pn=True)
    assert studies(corpus, PatientName="smith*", options=options) == ["S2", "S3"]
    assert studies(corpus, PatientName="SMITH^JOHN", options=options) == ["S2"]


def test_person_name_fuzzy_option(corpus: Corpus) -> None:
    options = Options(fuzzy=True)
    assert studies(corpus, PatientName="smi", options=options) == ["S2", "S3"]
    assert studies(corpus, PatientName="doe", options=options) == ["S1", "S4"]


def test_person_name_options_apply_to_non_indexed_names(corpus: Corpus) -> None:
    rows = search(corpus, "SERIES", options=Options(fuzzy=True), OperatorsName="tech")
    assert [corpus.name_of(value(r, "0020000E")) for r in rows] == ["S1a", "S3a"]
    rows = search(corpus, "SERIES", OperatorsName="tech*")
    assert rows == []


# -- C.2.2.2.5 range matching ----------------------------------------------------------------
def test_date_range_between_two_dates(corpus: Corpus) -> None:
    assert studies(corpus, StudyDate="20240101-20240131") == ["S1"]


def test_date_range_from_a_date_on(corpus: Corpus) -> None:
    assert studies(corpus, StudyDate="20240101-") == ["S1", "S2"]


def test_date_range_up_to_a_date_leaves_out_empty_dates(corpus: Corpus) -> None:
    # C.2.2.1.2: an entity with an unknown (zero length) value fails to match a matching key.
    assert studies(corpus, StudyDate="-20231231") == ["S3"]


def test_time_range_between_two_times(corpus: Corpus) -> None:
    assert studies(corpus, StudyTime="0800-1200") == ["S1"]
    assert studies(corpus, StudyTime="08:00-12:00") == ["S1"]


def test_time_range_open_ends(corpus: Corpus) -> None:
    assert studies(corpus, StudyTime="1430-") == ["S2", "S3"]
    # The upper bound includes the whole of its last unit (08:15 includes 08:15:00).
    assert studies(corpus, StudyTime="-0815") == ["S1"]


def test_date_range_on_a_non_indexed_key(corpus: Corpus) -> None:
    rows = search(corpus, "IMAGE", ContentDate="-20231231")
    assert sorted(value(r, "00080018") for r in rows) == sorted(corpus.instances["S3a"])
    rows = search(corpus, "IMAGE", ContentDate="20240101-20240131")
    assert len(rows) == 3


# -- empty value matching (a value of two QUOTATION MARKs) ------------------------------------
def test_empty_value_matching_on_an_indexed_key(corpus: Corpus) -> None:
    assert studies(corpus, StudyDate='""') == ["S4"]


def test_empty_value_matching_on_a_non_indexed_key(corpus: Corpus) -> None:
    assert studies(corpus, AdditionalPatientHistory='""') == ["S4"]


# -- multi-valued computed keys: Modalities in Study, SOP Classes in Study ---------------------
def test_modalities_in_study_matches_any_listed_value(corpus: Corpus) -> None:
    assert studies(corpus, ModalitiesInStudy=["CT", "MR"]) == ["S1", "S3", "S4"]
    assert studies(corpus, ModalitiesInStudy="MR") == ["S1", "S3"]


def test_modalities_in_study_is_returned_with_every_modality(corpus: Corpus) -> None:
    rows = search(corpus, "STUDY", StudyInstanceUID=corpus.studies["S1"], ModalitiesInStudy=None)
    assert rows[0]["00080061"]["Value"] == ["CT", "MR"]


def test_sop_classes_in_study_matching(corpus: Corpus) -> None:
    assert studies(corpus, SOPClassesInStudy=MR_IMAGE_STORAGE) == ["S1", "S3"]


# -- C.2.2.2.6 sequence matching --------------------------------------------------------------
def test_sequence_matching_on_one_item_key(corpus: Corpus) -> None:
    assert studies(corpus, ProcedureCodeSequence=[code("US-ABD")]) == ["S2"]


def test_sequence_matching_with_a_wildcard_in_the_item(corpus: Corpus) -> None:
    item = Dataset()
    item.CodeValue = "*-CHEST"
    assert studies(corpus, ProcedureCodeSequence=[item]) == ["S1", "S3"]


def test_sequence_matching_needs_all_item_keys_in_one_item(corpus: Corpus) -> None:
    item = Dataset()
    item.CodeValue = "CT-CHEST"
    item.CodingSchemeDesignator = "99DK"
    # S3 has CT-CHEST (LN) and 99DK, but not in the same item.
    assert studies(corpus, ProcedureCodeSequence=[item]) == ["S1"]


def test_sequence_with_an_empty_item_is_universal(corpus: Corpus) -> None:
    assert studies(corpus, ProcedureCodeSequence=[Dataset()]) == ["S1", "S2", "S3", "S4"]


def test_sequence_matching_at_the_image_level(corpus: Corpus) -> None:
    item = Dataset()
    item.CodeValue = "T-A0100"
    rows = search(corpus, "IMAGE", AnatomicRegionSequence=[item], SOPInstanceUID=None)
    assert sorted(value(r, "00080018") for r in rows) == sorted(corpus.instances["S3a"])


# -- keys without a column: the Python post-filter ---------------------------------------------
def test_non_indexed_series_key_at_the_series_level(corpus: Corpus) -> None:
    rows = search(corpus, "SERIES", OperatorsName="Tech^B*")
    assert [corpus.name_of(value(r, "0020000E")) for r in rows] == ["S3a"]


# -- C.4.1.2.1 levels, models and relational queries ------------------------------------------
def test_key_below_the_query_level_is_refused() -> None:
    with pytest.raises(QueryError):
        compile_query(identifier("STUDY", Modality="CT"))
    with pytest.raises(QueryError):
        compile_query(identifier("SERIES", SOPInstanceUID="1.2.3"))
    with pytest.raises(QueryError):
        compile_query(identifier("PATIENT", StudyDate="20240101"), "patient")


def test_non_indexed_key_below_the_query_level_is_refused() -> None:
    with pytest.raises(QueryError):
        compile_query(identifier("STUDY", OperatorsName="Tech*"))


def test_universal_key_below_the_query_level_is_a_return_key(corpus: Corpus) -> None:
    rows = search(corpus, "STUDY", PatientID="DK-2", Modality=None)
    assert len(rows) == 1


def test_patient_level_is_refused_in_the_study_root_model() -> None:
    with pytest.raises(QueryError):
        compile_query(identifier("PATIENT", PatientID="DK-1"), "study")


def test_unknown_query_retrieve_level_is_refused() -> None:
    with pytest.raises(QueryError):
        compile_query(identifier("FRAME"))


def test_patient_level_in_the_patient_root_model(corpus: Corpus) -> None:
    rows = search(corpus, "PATIENT", model="patient", PatientName="Doe*")
    assert [value(r, "00100020") for r in rows] == ["DK-1"]


def test_relational_query_at_the_image_level_by_patient(corpus: Corpus) -> None:
    rows = search(corpus, "IMAGE", PatientID="DK-3", SOPInstanceUID=None)
    assert sorted(value(r, "00080018") for r in rows) == sorted(corpus.instances["S3a"])


def test_relational_query_at_the_series_level_by_patient_name(corpus: Corpus) -> None:
    rows = search(corpus, "SERIES", PatientName="Doe^Jane", SeriesInstanceUID=None)
    assert [corpus.name_of(value(r, "0020000E")) for r in rows] == ["S1a", "S1b", "S4a"]


# -- computed attributes (C.6.1.1.2, C.6.1.1.3, C.6.1.1.4, C.6.2.1.2) ------------------------
def test_number_of_patient_related_studies_series_instances(corpus: Corpus) -> None:
    rows = search(corpus, "PATIENT", model="patient", PatientID="DK-1",
                  NumberOfPatientRelatedStudies=None, NumberOfPatientRelatedSeries=None,
                  NumberOfPatientRelatedInstances=None)
    assert [(value(r, "00201200"), value(r, "00201202"), value(r, "00201204"))
            for r in rows] == [(2, 3, 4)]


def test_number_of_study_related_series_and_instances(corpus: Corpus) -> None:
    rows = search(corpus, "STUDY", NumberOfStudyRelatedSeries=None,
                  NumberOfStudyRelatedInstances=None)
    assert [(value(r, "00201206"), value(r, "00201208")) for r in rows] == [
        (2, 3), (1, 1), (1, 2), (1, 1)]


def test_number_of_series_related_instances(corpus: Corpus) -> None:
    rows = search(corpus, "SERIES", NumberOfSeriesRelatedInstances=None)
    assert [(corpus.name_of(value(r, "0020000E")), value(r, "00201209")) for r in rows] == [
        ("S1a", 2), ("S1b", 1), ("S2a", 1), ("S3a", 2), ("S4a", 1)]


def test_number_of_patient_related_studies_at_the_study_level_of_the_study_root(
        corpus: Corpus) -> None:
    # C.6.2.1.2: the Study Root STUDY level carries the patient's optional keys too.
    rows = search(corpus, "STUDY", StudyInstanceUID=corpus.studies["S4"],
                  NumberOfPatientRelatedStudies=None, NumberOfPatientRelatedInstances=None)
    assert [(value(r, "00201200"), value(r, "00201204")) for r in rows] == [(2, 4)]


# -- return keys (C.4.1.1.3.2) ----------------------------------------------------------------
def test_return_key_absent_from_the_data_comes_back_zero_length(corpus: Corpus) -> None:
    request = identifier("STUDY", StudyInstanceUID=corpus.studies["S1"], PatientAge=None,
                         ReferencedStudySequence=None, PatientName=None)
    query = compile_query(request)
    [attrs] = list(corpus.archive.index.search(query))
    response = response_identifier(request, query.return_tags, attrs, query.level)
    assert "PatientAge" in response and response["PatientAge"].value in (None, "")
    assert "ReferencedStudySequence" in response
    assert len(response["ReferencedStudySequence"].value) == 0
    assert str(response.PatientName) == "Doe^Jane"
    assert response.QueryRetrieveLevel == "STUDY"


# -- paging -----------------------------------------------------------------------------------
def test_limit_and_offset_on_sql_matches(corpus: Corpus) -> None:
    rows = search(corpus, "STUDY", limit=2, offset=1, StudyInstanceUID=None)
    assert [corpus.name_of(value(r, "0020000D")) for r in rows] == ["S2", "S3"]


def test_limit_and_offset_with_the_post_filter(corpus: Corpus) -> None:
    rows = search(corpus, "STUDY", limit=1, offset=1, AdditionalPatientHistory="history*")
    assert [corpus.name_of(value(r, "0020000D")) for r in rows] == ["S2"]
