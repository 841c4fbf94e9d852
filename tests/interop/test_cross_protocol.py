"""DICOMweb and DIMSE on one archive: QIDO-RS and C-FIND share the matching engine, so they
return the same matches; an instance stored over one protocol comes back over the other with
the very same data set bytes (pynetdicom as the DIMSE peer, a test-time reference)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pydicom
import pytest
from pynetdicom import AE, build_role, evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet

from dicomkit.cli.sample import make_ct
from dicomkit.core.uid import generate_uid
from dicomkit.encoding.writer import write
from tests.support.servers import dk_find_uids
from tests.support.web import WebArchive, dataset_bytes, parse_multipart, stow

EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"


def qido(web: WebArchive, path: str, tag: str, **params: str) -> set[str]:
    response = httpx.get(web.root + path, params=params, timeout=30)
    assert response.status_code == 200, response.text
    return {r[tag]["Value"][0] for r in response.json()}


STUDY_QUERIES: list[dict[str, str]] = [
    {},
    {"PatientName": "Serve^*"},
    {"PatientName": "*MR*"},
    {"StudyDate": "20040101-20041231"},
    {"StudyDate": "-20040120"},
    {"ModalitiesInStudy": "CT"},
    {"PatientID": "DK-SERVE-1"},
    {"PatientSex": "F"},
]


@pytest.mark.parametrize("keys", STUDY_QUERIES, ids=lambda k: ",".join(k) or "all")
def test_qido_and_c_find_find_the_same_studies(web: WebArchive, keys: dict[str, str]) -> None:
    by_find = dk_find_uids(web.port, "STUDY", "StudyInstanceUID", **keys)
    by_qido = qido(web, "/studies", "0020000D", **keys)
    assert by_qido == by_find
    assert by_qido or keys.get("PatientSex")


def test_qido_and_c_find_find_the_same_series_and_instances(web: WebArchive) -> None:
    s = web.study_set
    assert qido(web, f"/studies/{s.synthetic_study}/series", "0020000E", Modality="CT") == \
        dk_find_uids(web.port, "SERIES", "SeriesInstanceUID", StudyInstanceUID=s.synthetic_study,
                     Modality="CT")
    instances = qido(web, f"/studies/{s.synthetic_study}/series/{s.synthetic_series}/instances",
                     "00080018", InstanceNumber="2")
    assert instances == dk_find_uids(web.port, "IMAGE", "SOPInstanceUID",
                                     StudyInstanceUID=s.synthetic_study,
                                     SeriesInstanceUID=s.synthetic_series, InstanceNumber="2")
    assert len(instances) == 1


def _c_get(port: int, study: str, sop_class: str) -> list[tuple[str, bytes]]:
    """C-GET a study with pynetdicom; (transfer syntax, data set bytes as received) each."""
    received: list[tuple[str, bytes]] = []
    lock = threading.Lock()

    def on_store(event: Any) -> int:
        with lock:
            received.append((str(event.context.transfer_syntax),
                             bytes(event.request.DataSet.getvalue())))
        return 0x0000

    ae = AE(ae_title="PYNETDICOM")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    ae.add_requested_context(sop_class, [EXPLICIT_VR_LITTLE_ENDIAN])
    assoc = ae.associate("127.0.0.1", port, ae_title="PACS",
                         ext_neg=[build_role(sop_class, scp_role=True)],
                         evt_handlers=[(evt.EVT_C_STORE, on_store)])
    assert assoc.is_established
    try:
        identifier = pydicom.Dataset()
        identifier.QueryRetrieveLevel = "STUDY"
        identifier.StudyInstanceUID = study
        statuses = [int(status.Status) for status, _ in assoc.send_c_get(
            identifier, StudyRootQueryRetrieveInformationModelGet)]
    finally:
        assoc.release()
    assert statuses[-1] == 0x0000, [hex(s) for s in statuses]
    return received


def test_an_instance_stored_by_stow_rs_comes_back_by_c_get_byte_for_byte(
        web: WebArchive, tmp_path: Path) -> None:
    study = generate_uid()
    path = tmp_path / "stowed.dcm"
    ds = make_ct(16, 1, study, generate_uid())
    write(ds, str(path), transfer_syntax=EXPLICIT_VR_LITTLE_ENDIAN)
    response = stow(web.root, [path], study=study)
    assert response.status_code == 200, response.text
    received = _c_get(web.port, study, str(ds.SOPClassUID))
    assert received == [(EXPLICIT_VR_LITTLE_ENDIAN, dataset_bytes(path.read_bytes()))]


def test_an_instance_stored_by_c_store_comes_back_by_wado_rs_byte_for_byte(
        web: WebArchive, tmp_path: Path) -> None:
    study, series = generate_uid(), generate_uid()
    path = tmp_path / "stored.dcm"
    ds = make_ct(16, 1, study, series)
    write(ds, str(path), transfer_syntax=EXPLICIT_VR_LITTLE_ENDIAN)
    ae = AE(ae_title="PYNETDICOM")
    ae.add_requested_context(str(ds.SOPClassUID), [EXPLICIT_VR_LITTLE_ENDIAN])
    assoc = ae.associate("127.0.0.1", web.port, ae_title="PACS")
    assert assoc.is_established
    try:
        status = assoc.send_c_store(path)  # a path: the data set goes as it is in the file
    finally:
        assoc.release()
    assert status is not None and int(status.Status) == 0x0000
    response = httpx.get(f"{web.root}/studies/{study}/series/{series}/instances/"
                         f"{ds.SOPInstanceUID}", timeout=30, headers={
                             "Accept": 'multipart/related; type="application/dicom"; '
                                       f"transfer-syntax={EXPLICIT_VR_LITTLE_ENDIAN}"})
    assert response.status_code == 200
    (headers, content), = parse_multipart(response)
    assert dataset_bytes(content) == dataset_bytes(path.read_bytes())
