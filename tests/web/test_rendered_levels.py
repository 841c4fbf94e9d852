"""Rendered studies and series (PS3.18 §10.4.1.1.3): a multipart/related payload of every frame
of every image, in Series Number and Instance Number order, each part the representation of
the rendered instance (or frame) its Content-Location names; instances with no image (SR) left
out with 206 (§10.4.3.1); a single part only for a single image (§8.6.1.1)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image
from requests import HTTPError

from dicomkit.cli.sample import make_ct
from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import generate_uid
from dicomkit.encoding.writer import write
from dicomkit.web.media import MultipartParser, Part
from dicomkit.web.pixels import jpeg_available, rendering_available
from tests.support.web import WebArchive, parse_multipart, stow

pytestmark = pytest.mark.skipif(not rendering_available(),
                                reason="dicomkit.pixels.render is not available")

BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"
PNG = 'multipart/related; type="image/png"'
JPEG = 'multipart/related; type="image/jpeg"'


@dataclass
class CtStudy:
    """Two CT series stored out of order, and an SR in a third series."""

    study: str
    series: dict[int, str]  # Series Number -> Series Instance UID
    order: list[tuple[str, str, int]]  # (series, SOP instance, size) as they should come
    sr_series: str


def basic_text_sr(study: str, series: str) -> Dataset:
    """A Basic Text SR (PS3.3 A.35.1): a document with no pixel data to render."""
    ds = Dataset()
    ds.SOPClassUID = BASIC_TEXT_SR
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.PatientName, ds.PatientID = "Doe^Jane", "DK-0001"
    ds.StudyDate, ds.StudyTime, ds.AccessionNumber, ds.StudyID = "20261126", "101500", "", "1"
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "SR", 3, 1
    ds.ValueType, ds.ContinuityOfContent = "CONTAINER", "SEPARATE"
    ds.CompletionFlag, ds.VerificationFlag = "COMPLETE", "UNVERIFIED"
    title = Dataset()
    title.CodeValue, title.CodingSchemeDesignator, title.CodeMeaning = "11528-7", "LN", "Report"
    ds.ConceptNameCodeSequence = [title]
    finding = Dataset()
    finding.RelationshipType, finding.ValueType, finding.TextValue = \
        "CONTAINS", "TEXT", "No acute findings."
    ds.ContentSequence = [finding]
    return ds


def store(web: WebArchive, folder: Path, datasets: list[Dataset]) -> None:
    paths = []
    for ds in datasets:
        path = folder / f"{ds.SOPInstanceUID}.dcm"
        write(ds, str(path))
        paths.append(path)
    response = stow(web.root, paths)
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def ct_study(web: WebArchive, tmp_path_factory: pytest.TempPathFactory) -> CtStudy:
    study = generate_uid()
    series = {2: generate_uid(), 1: generate_uid()}
    sizes = {1: 16, 2: 24}
    datasets = []
    for number, instances in ((2, (3, 1, 2)), (1, (2, 1))):  # stored out of order
        for instance in instances:
            ds = make_ct(sizes[number], instance, study, series[number])
            ds.SeriesNumber = number
            datasets.append(ds)
    sr_series = generate_uid()
    datasets.insert(2, basic_text_sr(study, sr_series))
    store(web, tmp_path_factory.mktemp("rendered-levels"), datasets)
    order = sorted(((int(ds.SeriesNumber), int(ds.InstanceNumber)), str(ds.SeriesInstanceUID),
                    str(ds.SOPInstanceUID), int(ds.Rows))
                   for ds in datasets if ds.SOPClassUID != BASIC_TEXT_SR)
    return CtStudy(study, series, [(s, sop, size) for _key, s, sop, size in order], sr_series)


def image_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.size


def locations(parts: list[tuple[dict[str, str], bytes]]) -> list[str]:
    return [headers["content-location"] for headers, _ in parts]


def rendered_url(web: WebArchive, study: str, series: str, sop: str, query: str = "") -> str:
    return (f"{web.root}/studies/{study}/series/{series}/instances/{sop}/rendered"
            + (f"?{query}" if query else ""))


# -- study --------------------------------------------------------------------------------------
def test_rendered_study_is_every_image_in_series_then_instance_order(
        web: WebArchive, ct_study: CtStudy) -> None:
    with web.http() as http:
        response = http.get(f"/studies/{ct_study.study}/rendered", headers={"Accept": PNG})
    # The SR has no image representation: some, but not all, of the study (§10.4.3.1).
    assert response.status_code == 206, response.text
    assert BASIC_TEXT_SR in response.headers["warning"]
    assert response.headers["content-type"].startswith(PNG + "; boundary=")
    parts = parse_multipart(response)
    assert locations(parts) == [rendered_url(web, ct_study.study, series, sop)
                                for series, sop, _size in ct_study.order]
    for (headers, content), (_series, _sop, size) in zip(parts, ct_study.order, strict=True):
        assert headers["content-type"] == "image/png"
        assert image_size(content) == (size, size)


def test_each_part_is_the_rendered_instance_it_names(web: WebArchive,
                                                     ct_study: CtStudy) -> None:
    with web.http() as http:
        parts = parse_multipart(http.get(f"/studies/{ct_study.study}/rendered",
                                         headers={"Accept": PNG}))
        for headers, content in parts:
            alone = http.get(headers["content-location"], headers={"Accept": "image/png"})
            assert alone.status_code == 200
            assert alone.content == content


def test_rendered_study_is_jpeg_by_default(web: WebArchive, ct_study: CtStudy) -> None:
    with web.http() as http:
        response = http.get(f"/studies/{ct_study.study}/rendered")
        expected = "image/jpeg" if jpeg_available() else "image/png"
        assert response.headers["content-type"].startswith(
            f'multipart/related; type="{expected}"')
        parts = parse_multipart(response)
        assert len(parts) == len(ct_study.order)
        for (headers, content), (series, sop, size) in zip(parts, ct_study.order, strict=True):
            assert headers["content-type"] == expected
            assert image_size(content) == (size, size)
            alone = http.get(rendered_url(web, ct_study.study, series, sop),
                             headers={"Accept": expected})
            assert alone.content == content


def test_viewport_window_and_quality_apply_to_every_part(web: WebArchive,
                                                         ct_study: CtStudy) -> None:
    query = "window=100,50&viewport=8,8"
    with web.http() as http:
        plain = parse_multipart(http.get(f"/studies/{ct_study.study}/rendered",
                                         headers={"Accept": PNG}))
        windowed = parse_multipart(http.get(f"/studies/{ct_study.study}/rendered?{query}",
                                            headers={"Accept": PNG}))
        assert locations(windowed) == [rendered_url(web, ct_study.study, series, sop, query)
                                       for series, sop, _size in ct_study.order]
        for (headers, content), (_, before) in zip(windowed, plain, strict=True):
            assert image_size(content) == (8, 8)
            assert content != before
            assert http.get(headers["content-location"],
                            headers={"Accept": "image/png"}).content == content
        if jpeg_available():
            low = parse_multipart(http.get(f"/studies/{ct_study.study}/rendered?quality=5",
                                           headers={"Accept": JPEG}))
            high = parse_multipart(http.get(f"/studies/{ct_study.study}/rendered?quality=95",
                                            headers={"Accept": JPEG}))
            assert len(low) == len(high)
            assert sum(len(c) for _, c in low) < sum(len(c) for _, c in high)


def test_every_frame_of_a_multi_frame_image_is_a_part(web: WebArchive) -> None:
    dose = web.instance("rtdose.dcm")  # 15 frames, alone in its study
    base = f"{web.root}{web.instance_url('rtdose.dcm')}"
    with web.http() as http:
        response = http.get(f"/studies/{dose.study}/rendered", headers={"Accept": PNG})
        assert response.status_code == 200
        parts = parse_multipart(response)
        assert locations(parts) == [f"{base}/frames/{n}/rendered" for n in range(1, 16)]
        for headers, content in parts[:3] + parts[-1:]:
            alone = http.get(headers["content-location"], headers={"Accept": "image/png"})
            assert alone.content == content


def test_a_window_for_a_study_with_a_colour_image_is_400(web: WebArchive) -> None:
    rle = web.instance("SC_rgb_rle_2frame.dcm")  # RGB, alone in its study
    with web.http() as http:
        response = http.get(f"/studies/{rle.study}/rendered", params={"window": "40,400"},
                            headers={"Accept": PNG})
        assert response.status_code == 400
        assert "grayscale" in response.json()["reason"]
        colour = http.get(f"/studies/{rle.study}/rendered", params={"accept": PNG})
    assert colour.status_code == 200
    # The accept parameter (§8.3.3.1) chose the media type; it is not part of the resource.
    assert locations(parse_multipart(colour)) == [
        f"{web.root}{web.instance_url('SC_rgb_rle_2frame.dcm')}/frames/{n}/rendered"
        for n in (1, 2)]


# -- series -------------------------------------------------------------------------------------
def test_rendered_series_is_that_series_only(web: WebArchive, ct_study: CtStudy) -> None:
    series = ct_study.series[2]
    with web.http() as http:
        response = http.get(f"/studies/{ct_study.study}/series/{series}/rendered",
                            headers={"Accept": PNG})
    assert response.status_code == 200
    assert "warning" not in response.headers
    assert locations(parse_multipart(response)) == [
        rendered_url(web, ct_study.study, s, sop) for s, sop, _ in ct_study.order
        if s == series]


def test_a_single_image_may_be_a_single_part(web: WebArchive) -> None:
    ct = web.instance("CT_small.dcm")  # alone in its series
    url = f"/studies/{ct.study}/series/{ct.series}/rendered"
    with web.http() as http:
        single = http.get(url, headers={"Accept": "image/png"})
        assert single.status_code == 200
        assert single.headers["content-type"] == "image/png"
        assert single.headers["content-location"] == rendered_url(web, ct.study, ct.series,
                                                                  ct.sop)
        assert single.content == http.get(single.headers["content-location"],
                                          headers={"Accept": "image/png"}).content
        multipart = parse_multipart(http.get(url, headers={"Accept": PNG}))
    assert [content for _, content in multipart] == [single.content]


def test_several_images_are_not_a_single_part(web: WebArchive, ct_study: CtStudy) -> None:
    with web.http() as http:
        refused = http.get(f"/studies/{ct_study.study}/rendered",
                           headers={"Accept": "image/png"})
        assert refused.status_code == 406
        assert "multipart/related" in refused.json()["reason"]
        # A multipart range later in the Accept header is taken.
        taken = http.get(f"/studies/{ct_study.study}/rendered",
                         headers={"Accept": f"image/png, {PNG}; q=0.5"})
        assert taken.status_code == 206
        assert len(parse_multipart(taken)) == len(ct_study.order)


# -- what there is nothing to render of -----------------------------------------------------------
def test_a_study_of_an_sr_only_is_406(web: WebArchive, ct_study: CtStudy) -> None:
    with web.http() as http:
        response = http.get(f"/studies/{ct_study.study}/series/{ct_study.sr_series}/rendered")
    assert response.status_code == 406
    reason = response.json()["reason"]
    assert BASIC_TEXT_SR in reason and ct_study.sr_series in reason


def test_unknown_study_404_malformed_uid_400_other_media_type_406(web: WebArchive,
                                                                  ct_study: CtStudy) -> None:
    with web.http() as http:
        assert http.get(f"/studies/{generate_uid()}/rendered").status_code == 404
        assert http.get(f"/studies/{ct_study.study}/series/{generate_uid()}/rendered"
                        ).status_code == 404
        assert http.get("/studies/1.2.x/rendered").status_code == 400
        assert http.get(f"/studies/{ct_study.study}/series/1..2/rendered").status_code == 400
        assert http.get(f"/studies/{ct_study.study}/rendered", headers={
            "Accept": 'multipart/related; type="application/dicom"'}).status_code == 406
        assert http.get(f"/studies/{ct_study.study}/rendered",
                        params={"viewport": "0,8"}).status_code == 400


def test_a_study_thumbnail_is_its_middle_image(web: WebArchive, ct_study: CtStudy) -> None:
    series, sop, _size = ct_study.order[len(ct_study.order) // 2]
    with web.http() as http:
        thumbnail = http.get(f"/studies/{ct_study.study}/thumbnail",
                             headers={"Accept": "image/png"})
        instance = http.get(rendered_url(web, ct_study.study, series, sop).replace(
            "/rendered", "/thumbnail"), headers={"Accept": "image/png"})
    assert thumbnail.status_code == 200
    assert thumbnail.content == instance.content


# -- dicomweb-client ------------------------------------------------------------------------------
def client_parts(body: bytes) -> list[bytes]:
    """The parts of a multipart body whose boundary is its first line (the client returns the
    body without the Content-Type header)."""
    boundary = body.split(b"\r\n", 1)[0][2:].decode()
    parser = MultipartParser(boundary)
    parts: list[bytes] = []
    for event, value in parser.feed(body):
        if event == "part":
            assert isinstance(value, Part)
            parts.append(b"")
        elif event == "data":
            parts[-1] += value  # type: ignore[operator]
    parser.close()
    return parts


def test_retrieve_series_rendered_with_dicomweb_client(web: WebArchive,
                                                       ct_study: CtStudy) -> None:
    client = web.client()
    series = ct_study.series[1]
    body = client.retrieve_series_rendered(ct_study.study, series)
    expected = [httpx.get(rendered_url(web, ct_study.study, s, sop)).content
                for s, sop, _ in ct_study.order if s == series]
    assert client_parts(body) == expected
    ct = web.instance("CT_small.dcm")
    png = client.retrieve_series_rendered(ct.study, ct.series, media_types=("image/png",))
    assert png == httpx.get(rendered_url(web, ct.study, ct.series, ct.sop),
                            headers={"Accept": "image/png"}).content
    with pytest.raises(HTTPError) as raised:
        client.retrieve_series_rendered(ct_study.study, series, media_types=("image/png",))
    assert raised.value.response.status_code == 406
