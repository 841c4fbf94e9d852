"""``dicomkit serve`` driven by dicomweb-client, a DICOMweb user agent of its own: every
endpoint it supports (PS3.18 §10.4 Retrieve, §10.5 Store, §10.6 Search)."""

from __future__ import annotations

import pydicom
import pytest
from pydicom.encaps import generate_frames
from requests import HTTPError

from dicomkit.cli.sample import make_ct
from dicomkit.core.uid import generate_uid
from dicomkit.encoding.writer import write
from dicomkit.web.pixels import transcode_available
from tests.support.web import WebArchive

# PS3.18 Table 10.6.3-3 / -4 / -5: what every result carries by default.
STUDY_RESULT = {"00080020", "00080030", "00080050", "00080056", "00080061", "00080090",
                "00081190", "00100010", "00100020", "00100030", "00100040", "0020000D",
                "00200010", "00201206", "00201208"}
SERIES_RESULT = {"00080060", "0008103E", "00081190", "0020000E", "00200011", "00201209"}
INSTANCE_RESULT = {"00080016", "00080018", "00080056", "00081190", "00200013", "00280010",
                   "00280011", "00280100"}


def uids(results: list[dict], tag: str) -> set[str]:
    return {r[tag]["Value"][0] for r in results}


def test_search_for_studies_returns_every_study_with_the_required_attributes(
        web: WebArchive) -> None:
    results = web.client().search_for_studies()
    expected = web.study_set.studies | {web.instance(n).study for n in web.stowed}
    assert uids(results, "0020000D") == expected
    for result in results:
        assert STUDY_RESULT <= set(result), STUDY_RESULT - set(result)
        assert result["00080056"]["Value"] == ["ONLINE"]
        study = result["0020000D"]["Value"][0]
        assert result["00081190"]["Value"] == [f"{web.root}/studies/{study}"]
    synthetic = next(r for r in results
                     if r["0020000D"]["Value"][0] == web.study_set.synthetic_study)
    assert synthetic["00201208"]["Value"] == [5]
    assert synthetic["00201206"]["Value"] == [1]
    assert synthetic["00080061"]["Value"] == ["CT"]


def test_search_for_studies_with_matching_keys(web: WebArchive) -> None:
    client = web.client()
    found = client.search_for_studies(search_filters={"PatientName": "Serve^*"})
    assert uids(found, "0020000D") == {web.study_set.synthetic_study}
    found = client.search_for_studies(search_filters={"StudyDate": "20040101-20040131"})
    assert uids(found, "0020000D") == {web.study_set.study_of("CT_small.dcm")}
    found = client.search_for_studies(search_filters={"ModalitiesInStudy": "MR"})
    assert uids(found, "0020000D") == {web.study_set.study_of("MR_small.dcm")}
    assert client.search_for_studies(search_filters={"PatientID": "no-such-patient"}) == []


def test_search_for_series_of_a_study_and_of_all_studies(web: WebArchive) -> None:
    client = web.client()
    s = web.study_set
    series = client.search_for_series(study_instance_uid=s.synthetic_study)
    assert uids(series, "0020000E") == {s.synthetic_series}
    assert SERIES_RESULT <= set(series[0])
    assert series[0]["00201209"]["Value"] == [5]
    everything = client.search_for_series()
    assert s.synthetic_series in uids(everything, "0020000E")
    assert len(everything) == len({i.series for i in s.instances}) + len(web.stowed)
    # Series of all studies also carry the study's attributes (§10.6.3.3).
    assert STUDY_RESULT - {"00081190"} <= set(everything[0])
    ct = client.search_for_series(search_filters={"Modality": "CT"})
    assert s.synthetic_series in uids(ct, "0020000E")
    assert all(r["00080060"]["Value"] == ["CT"] for r in ct)


def test_search_for_instances_at_every_level(web: WebArchive) -> None:
    client = web.client()
    s = web.study_set
    mine = s.sops_of(s.synthetic_study)
    of_series = client.search_for_instances(study_instance_uid=s.synthetic_study,
                                            series_instance_uid=s.synthetic_series)
    assert uids(of_series, "00080018") == mine
    assert INSTANCE_RESULT <= set(of_series[0])
    of_study = client.search_for_instances(study_instance_uid=s.synthetic_study)
    assert uids(of_study, "00080018") == mine
    assert "0020000E" in of_study[0]  # series attributes come along (§10.6.3.3)
    everything = client.search_for_instances()
    assert uids(everything, "00080018") == s.sops | {web.instance(n).sop for n in web.stowed}
    one = client.search_for_instances(search_filters={"InstanceNumber": "3"},
                                      study_instance_uid=s.synthetic_study)
    assert [r["00200013"]["Value"] for r in one] == [[3]]


def test_retrieve_study_series_and_instance(web: WebArchive) -> None:
    client = web.client()
    s = web.study_set
    study = client.retrieve_study(s.synthetic_study)
    assert {str(ds.SOPInstanceUID) for ds in study} == s.sops_of(s.synthetic_study)
    series = client.retrieve_series(s.synthetic_study, s.synthetic_series)
    assert len(series) == 5
    mr = web.instance("MR_small.dcm")
    ds = client.retrieve_instance(mr.study, mr.series, mr.sop,
                                  media_types=(("application/dicom", "*"),))
    original = pydicom.dcmread(mr.path)
    assert ds.PixelData == original.PixelData
    assert ds.PatientName == original.PatientName


def test_retrieve_in_explicit_vr_little_endian_converts_implicit_vr(web: WebArchive) -> None:
    """rtdose.dcm is stored in Implicit VR Little Endian and converted on the way out."""
    dose = web.instance("rtdose.dcm")
    ds = web.client().retrieve_instance(dose.study, dose.series, dose.sop, media_types=(
        ("application/dicom", "1.2.840.10008.1.2.1"),))
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert ds.PixelData == pydicom.dcmread(dose.path).PixelData
    as_stored = web.client().retrieve_instance(dose.study, dose.series, dose.sop)
    assert as_stored.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2"


def test_metadata_at_every_level_comes_from_the_index(web: WebArchive) -> None:
    client = web.client()
    s = web.study_set
    study = client.retrieve_study_metadata(s.synthetic_study)
    assert uids(study, "00080018") == s.sops_of(s.synthetic_study)
    series = client.retrieve_series_metadata(s.synthetic_study, s.synthetic_series)
    assert len(series) == 5
    ct = web.instance("CT_small.dcm")
    instance = client.retrieve_instance_metadata(ct.study, ct.series, ct.sop)
    assert instance["00100010"]["Value"] == [{"Alphabetic": "CompressedSamples^CT1"}]
    uri = instance["7FE00010"]["BulkDataURI"]
    assert uri == (f"{web.root}/studies/{ct.study}/series/{ct.series}/instances/{ct.sop}"
                   "/bulkdata/7FE00010")


def test_bulk_data_by_its_uri(web: WebArchive) -> None:
    client = web.client()
    ct = web.instance("CT_small.dcm")
    uri = client.retrieve_instance_metadata(ct.study, ct.series, ct.sop)["7FE00010"][
        "BulkDataURI"]
    original = pydicom.dcmread(ct.path).PixelData
    assert client.retrieve_bulkdata(uri) == [original]
    assert client.retrieve_bulkdata(uri, byte_range=(100, 199)) == [original[100:200]]


def test_frames_of_native_multi_frame_pixel_data(web: WebArchive) -> None:
    dose = web.instance("rtdose.dcm")
    original = pydicom.dcmread(dose.path)
    size = original.Rows * original.Columns * original.BitsAllocated // 8
    frames = web.client().retrieve_instance_frames(dose.study, dose.series, dose.sop,
                                                   [1, 3, 15])
    assert frames == [original.PixelData[(n - 1) * size:n * size] for n in (1, 3, 15)]


def test_frames_of_compressed_pixel_data_as_stored(web: WebArchive) -> None:
    rle = web.instance("SC_rgb_rle_2frame.dcm")
    original = pydicom.dcmread(rle.path)
    stored = list(generate_frames(original.PixelData, number_of_frames=2))
    frames = web.client().retrieve_instance_frames(
        rle.study, rle.series, rle.sop, [2], media_types=(("image/dicom-rle", "*"),))
    assert frames == [stored[1]]


def test_store_instances_then_find_and_retrieve_them(web: WebArchive, tmp_path) -> None:
    study, series = generate_uid(), generate_uid()
    datasets = []
    for number in (1, 2):
        path = tmp_path / f"{number}.dcm"
        write(make_ct(8, number, study, series), str(path))
        datasets.append(pydicom.dcmread(path))
    client = web.client()
    response = client.store_instances(datasets, study_instance_uid=study)
    referenced = response.ReferencedSOPSequence
    assert {str(item.ReferencedSOPInstanceUID) for item in referenced} == {
        str(ds.SOPInstanceUID) for ds in datasets}
    assert "FailedSOPSequence" not in response
    assert response.RetrieveURL == f"{web.root}/studies/{study}"
    assert uids(client.search_for_instances(study_instance_uid=study), "00080018") == {
        str(ds.SOPInstanceUID) for ds in datasets}
    back = client.retrieve_study(study)
    assert sorted(ds.PixelData for ds in back) == sorted(ds.PixelData for ds in datasets)


def test_store_into_another_study_is_refused_with_409(web: WebArchive, tmp_path) -> None:
    path = tmp_path / "other.dcm"
    write(make_ct(8, 1, generate_uid(), generate_uid()), str(path))
    with pytest.raises(HTTPError) as raised:
        web.client().store_instances([pydicom.dcmread(path)],
                                     study_instance_uid=generate_uid())
    assert raised.value.response.status_code == 409
    body = raised.value.response.json()
    failed = body["00081198"]["Value"][0]
    assert failed["00081197"]["Value"] == [0xC409]


def test_compressed_instance_converted_or_refused_with_406(web: WebArchive) -> None:
    rle = web.instance("SC_rgb_rle_2frame.dcm")
    client = web.client()
    if not transcode_available():
        with pytest.raises(HTTPError) as raised:
            client.retrieve_instance(rle.study, rle.series, rle.sop, media_types=(
                ("application/dicom", "1.2.840.10008.1.2.1"),))
        assert raised.value.response.status_code == 406
        return
    ds = client.retrieve_instance(rle.study, rle.series, rle.sop, media_types=(
        ("application/dicom", "1.2.840.10008.1.2.1"),))
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert (ds.pixel_array == pydicom.dcmread(rle.path).pixel_array).all()


def test_compressed_frames_decoded_to_octet_stream(web: WebArchive) -> None:
    rle = web.instance("SC_rgb_rle_2frame.dcm")
    frames = web.client().retrieve_instance_frames(
        rle.study, rle.series, rle.sop, [2],
        media_types=(("application/octet-stream", "1.2.840.10008.1.2.1"),))
    assert frames == [pydicom.dcmread(rle.path).pixel_array[1].tobytes()]


def test_rendered_instance_and_frame(web: WebArchive) -> None:
    """retrieve_instance_rendered / retrieve_instance_frames_rendered (PS3.18 §10.4.1.1.3):
    a PNG of the image's size, the same bytes as the plain HTTP request; a frame of a
    multi-frame instance differs from another frame."""
    import io

    from PIL import Image

    ct = web.instance("CT_small.dcm")
    client = web.client()
    png = client.retrieve_instance_rendered(ct.study, ct.series, ct.sop,
                                            media_types=("image/png",))
    original = pydicom.dcmread(ct.path)
    assert Image.open(io.BytesIO(png)).size == (original.Columns, original.Rows)
    with web.http() as http:
        direct = http.get(f"/studies/{ct.study}/series/{ct.series}/instances/{ct.sop}/rendered",
                          headers={"Accept": "image/png"})
    assert direct.content == png
    jpeg = client.retrieve_instance_rendered(ct.study, ct.series, ct.sop,
                                             params={"viewport": "64,64"})
    assert jpeg[:2] == b"\xff\xd8" and Image.open(io.BytesIO(jpeg)).size == (64, 64)
    dose = web.instance("rtdose.dcm")
    first, last = (client.retrieve_instance_frames_rendered(
        dose.study, dose.series, dose.sop, [n], media_types=("image/png",)) for n in (1, 15))
    assert Image.open(io.BytesIO(first)).size == Image.open(io.BytesIO(last)).size
    assert first != last
