"""DICOMweb over plain HTTP (httpx): status codes and their reasons (PS3.18 §8.5), QIDO-RS
query parameters (§8.3.4), Range on bulk data, XML, capabilities (§8.9) and WADO-URI (§9)."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import httpx
import pydicom
import pytest
from pydicom.encaps import generate_frames

import dicomkit
from dicomkit.cli.sample import make_ct
from dicomkit.core.uid import generate_uid
from dicomkit.encoding.json import to_json
from dicomkit.encoding.xml import to_xml
from dicomkit.web.pixels import jpeg_available, rendering_available
from tests.support.datasets import pydicom_file
from tests.support.web import WebArchive, dataset_bytes, multipart_body, parse_multipart, stow

MULTIPART_DICOM = 'multipart/related; type="application/dicom"'


def reason_of(response) -> str:
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["status"] == response.status_code
    assert response.headers["warning"].startswith("299 dicomkit: ")
    return str(body["reason"])


# -- errors -----------------------------------------------------------------------------------
def test_unknown_query_key_is_400_with_a_readable_reason(web: WebArchive) -> None:
    with web.http() as http:
        response = http.get("/studies", params={"PatientNmae": "Doe"})
    assert response.status_code == 400
    assert "PatientNmae" in reason_of(response)


def test_bad_query_values_are_400(web: WebArchive) -> None:
    with web.http() as http:
        for params in ({"limit": "-1"}, {"offset": "x"}, {"fuzzymatching": "maybe"},
                       {"includefield": "NoSuchKeyword"}, {"SeriesNumber": "abc"},
                       {"QueryRetrieveLevel": "STUDY"}):
            response = http.get("/series", params=params)
            assert response.status_code == 400, params
            assert reason_of(response)


def test_a_bad_uid_is_400_and_an_unknown_one_404(web: WebArchive) -> None:
    with web.http() as http:
        bad = http.get("/studies/1.2.x/metadata")
        assert bad.status_code == 400
        assert "1.2.x" in reason_of(bad)
        unknown = http.get("/studies/1.2.3.4.5/metadata")
        assert unknown.status_code == 404
        assert "1.2.3.4.5" in reason_of(unknown)
        ct = web.instance("CT_small.dcm")
        wrong_series = http.get(f"/studies/{ct.study}/series/1.2.3/instances/{ct.sop}")
        assert wrong_series.status_code == 404
        assert http.get("/no-such-resource").status_code == 404


def test_unacceptable_media_types_are_406(web: WebArchive) -> None:
    s = web.study_set
    with web.http() as http:
        assert http.get("/studies", headers={"Accept": "text/html"}).status_code == 406
        assert http.get(f"/studies/{s.synthetic_study}", headers={
            "Accept": 'multipart/related; type="image/jpeg"'}).status_code == 406
        response = http.get(f"/studies/{s.synthetic_study}/metadata",
                            headers={"Accept": "application/pdf"})
        assert response.status_code == 406
        assert "application/dicom+json" in reason_of(response)
        rle = web.instance_url("SC_rgb_rle_2frame.dcm")
        response = http.get(rle + "/frames/1", headers={
            "Accept": 'multipart/related; type="video/mp4"'})  # a still image is no video
        assert response.status_code == 406


def test_compressed_frames_encoded_in_another_compressed_media_type(web: WebArchive) -> None:
    """RLE frames asked for as image/jls: decoded and encoded JPEG-LS lossless (PS3.18
    Table 8.7.3-5 default); decoded again they are the stored pixels of that frame."""
    import imagecodecs

    rle = web.instance("SC_rgb_rle_2frame.dcm")
    original = pydicom.dcmread(rle.path)
    with web.http() as http:
        response = http.get(f"{web.instance_url('SC_rgb_rle_2frame.dcm')}/frames/2",
                            headers={"Accept": 'multipart/related; type="image/jls"'})
    assert response.status_code == 200, response.text
    [(headers, body)] = parse_multipart(response)
    assert "transfer-syntax=1.2.840.10008.1.2.4.80" in headers["content-type"]
    assert (imagecodecs.jpegls_decode(body) == original.pixel_array[1]).all()


def test_unsupported_media_type_to_stow_is_415(web: WebArchive) -> None:
    with web.http() as http:
        response = http.post("/studies", content=b"{}",
                             headers={"Content-Type": "application/json"})
        assert response.status_code == 415
        assert "multipart/related" in reason_of(response)
        body, content_type = multipart_body([b"x"], "text/plain")
        response = http.post("/studies", content=body, headers={"Content-Type": content_type})
        assert response.status_code == 415


def test_stow_of_something_that_is_not_dicom_fails_that_part(web: WebArchive) -> None:
    body, content_type = multipart_body([b"not a DICOM file at all" * 10])
    with web.http() as http:
        response = http.post("/studies", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 409
    failed = response.json()["00081198"]["Value"]
    assert failed[0]["00081197"]["Value"] == [0xC000]


def test_stow_of_a_cut_body_is_400(web: WebArchive) -> None:
    body, content_type = multipart_body([web.study_set.instances[0].path.read_bytes()])
    with web.http() as http:
        response = http.post("/studies", content=body[:-40],
                             headers={"Content-Type": content_type})
    assert response.status_code == 400
    assert "close delimiter" in reason_of(response)


def test_stow_of_a_known_instance_again_succeeds(web: WebArchive) -> None:
    mr = web.instance("MR_small.dcm")
    response = stow(web.root, [mr.path], study=mr.study)
    assert response.status_code == 200
    item = response.json()["00081199"]["Value"][0]
    assert item["00081155"]["Value"] == [mr.sop]
    assert item["00081190"]["Value"][0].endswith(f"/instances/{mr.sop}")


def test_stow_of_small_and_large_parts_stores_each_file_byte_for_byte(
        web: WebArchive, tmp_path) -> None:
    """A part up to 4 MiB is held in memory and committed in one step, a larger one streams
    to a temporary file (archive/store.py SPILL_BYTES); both come back as sent."""
    from dicomkit.archive.store import SPILL_BYTES

    study = generate_uid()
    paths = []
    for number, size in ((1, 16), (2, 1600)):  # 0.5 KB and 5 MB of pixels
        ds = make_ct(size, number, study, generate_uid())
        path = tmp_path / f"{number}.dcm"
        dicomkit.write(ds, str(path))
        paths.append(path)
    assert paths[0].stat().st_size < SPILL_BYTES < paths[1].stat().st_size
    response = stow(web.root, paths)
    assert response.status_code == 200, response.text
    with web.http() as http:
        for path in paths:
            ds = dicomkit.read(str(path), stop_before_pixels=True)
            got = http.get(f"/studies/{study}/series/{ds.SeriesInstanceUID}/instances/"
                           f"{ds.SOPInstanceUID}",
                           headers={"Accept": 'multipart/related; type="application/dicom"; '
                                              "transfer-syntax=*"})
            assert got.status_code == 200
            parts = parse_multipart(got)
            assert len(parts) == 1 and parts[0][1] == path.read_bytes()


# -- QIDO-RS parameters -------------------------------------------------------------------------
def test_limit_and_offset_page_through_all_matches_with_a_warning(web: WebArchive) -> None:
    s = web.study_set
    url = f"/studies/{s.synthetic_study}/series/{s.synthetic_series}/instances"
    seen: list[str] = []
    with web.http() as http:
        for offset in (0, 2, 4):
            response = http.get(url, params={"limit": 2, "offset": offset})
            assert response.status_code == 200
            page = [r["00080018"]["Value"][0] for r in response.json()]
            seen += page
            if offset < 4:
                assert len(page) == 2
                warning = response.headers["warning"]
                assert warning.startswith("299 ")
                assert f"offset={offset + 2}" in warning
            else:
                assert len(page) == 1
                assert "warning" not in response.headers
    assert sorted(seen) == sorted(s.sops_of(s.synthetic_study))


def test_includefield_adds_attributes_by_keyword_tag_or_all(web: WebArchive) -> None:
    s = web.study_set
    with web.http() as http:
        plain = http.get("/studies", params={"StudyInstanceUID": s.synthetic_study}).json()[0]
        assert "00080062" not in plain  # SOP Classes in Study is not a default attribute
        more = http.get("/studies", params={"StudyInstanceUID": s.synthetic_study,
                                            "includefield": "SOPClassesInStudy,00081030"}
                        ).json()[0]
        assert more["00080062"]["Value"] == ["1.2.840.10008.5.1.4.1.1.2"]
        assert "00081030" in more
        url = f"/studies/{s.synthetic_study}/series/{s.synthetic_series}/instances"
        every = http.get(url, params={"includefield": "all", "InstanceNumber": "1"}).json()[0]
        assert every["00280004"]["Value"] == ["MONOCHROME2"]  # not a default attribute
        assert every["00100010"]["Value"] == [{"Alphabetic": "Serve^Test"}]


def test_fuzzymatching_matches_names_by_their_start_in_any_case(web: WebArchive) -> None:
    s = web.study_set
    with web.http() as http:
        exact = http.get("/studies", params={"PatientName": "serve"}).json()
        assert exact == []
        fuzzy = http.get("/studies", params={"PatientName": "serve",
                                             "fuzzymatching": "true"}).json()
    assert [r["0020000D"]["Value"][0] for r in fuzzy] == [s.synthetic_study]


def test_uid_list_matching_with_commas(web: WebArchive) -> None:
    ct, mr = web.instance("CT_small.dcm"), web.instance("MR_small.dcm")
    with web.http() as http:
        found = http.get("/studies", params={"StudyInstanceUID": f"{ct.study},{mr.study}"})
    assert {r["0020000D"]["Value"][0] for r in found.json()} == {ct.study, mr.study}


def test_search_as_xml(web: WebArchive) -> None:
    with web.http() as http:
        response = http.get("/studies", headers={
            "Accept": 'multipart/related; type="application/dicom+xml"'})
    assert response.status_code == 200
    parts = parse_multipart(response)
    assert len(parts) == len(web.study_set.studies) + len(web.stowed) or len(parts) >= 4
    root = ET.fromstring(parts[0][1])
    keywords = {node.get("keyword") for node in root}
    assert {"StudyInstanceUID", "PatientName", "NumberOfStudyRelatedInstances"} <= keywords


# -- WADO-RS over HTTP --------------------------------------------------------------------------
def test_bulk_data_range_is_206_with_content_range(web: WebArchive) -> None:
    url = web.instance_url("CT_small.dcm") + "/bulkdata/7FE00010"
    original = pydicom.dcmread(web.instance("CT_small.dcm").path).PixelData
    with web.http() as http:
        whole = http.get(url, headers={"Accept": "application/octet-stream"})
        assert whole.status_code == 200
        assert whole.content == original
        part = http.get(url, headers={"Accept": "application/octet-stream",
                                      "Range": "bytes=1000-1999"})
        assert part.status_code == 206
        assert part.headers["content-range"] == f"bytes 1000-1999/{len(original)}"
        assert part.content == original[1000:2000]
        tail = http.get(url, headers={"Accept": "application/octet-stream",
                                      "Range": "bytes=-10"})
        assert tail.content == original[-10:]
        beyond = http.get(url, headers={"Accept": "application/octet-stream",
                                        "Range": f"bytes={len(original)}-"})
        assert beyond.status_code == 416
        assert beyond.headers["content-range"] == f"bytes */{len(original)}"
        missing = http.get(web.instance_url("CT_small.dcm") + "/bulkdata/00091234")
        assert missing.status_code == 404


def test_instance_as_stored_is_the_stored_data_set(web: WebArchive) -> None:
    dose = web.instance("rtdose.dcm")  # stored by STOW-RS as it is, Implicit VR Little Endian
    with web.http() as http:
        response = http.get(web.instance_url("rtdose.dcm"),
                            headers={"Accept": MULTIPART_DICOM + "; transfer-syntax=*"})
    (headers, content), = parse_multipart(response)
    assert headers["content-type"] == "application/dicom; transfer-syntax=1.2.840.10008.1.2"
    assert dataset_bytes(content) == dataset_bytes(dose.path.read_bytes())


def test_metadata_as_xml(web: WebArchive) -> None:
    s = web.study_set
    with web.http() as http:
        response = http.get(f"/studies/{s.synthetic_study}/metadata", headers={
            "Accept": 'multipart/related; type="application/dicom+xml"'})
    parts = parse_multipart(response)
    assert len(parts) == 5
    root = ET.fromstring(parts[0][1])
    bulk = [n for n in root.iter("BulkData")]
    assert bulk and bulk[0].get("uri", "").startswith(web.root + "/studies/")


def test_rendered_and_thumbnail(web: WebArchive) -> None:
    url = web.instance_url("CT_small.dcm")
    with web.http() as http:
        png = http.get(url + "/rendered", params={"window": "40,400", "viewport": "64,64"},
                       headers={"Accept": "image/png"})
        thumb = http.get(url + "/thumbnail", headers={"Accept": "image/png"})
        frame = http.get(web.instance_url("rtdose.dcm") + "/frames/2/rendered",
                         headers={"Accept": "image/png"})
        bad = http.get(url + "/rendered", params={"window": "40"})
    if not rendering_available():
        assert png.status_code == 501
        assert "not supported yet" in reason_of(png)
        return
    assert png.status_code == 200, png.text
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert int.from_bytes(png.content[16:20], "big") == 64  # IHDR width
    assert thumb.status_code == 200 and thumb.content.startswith(b"\x89PNG")
    assert frame.status_code == 200 and frame.content.startswith(b"\x89PNG")
    assert bad.status_code == 400


# -- capabilities -------------------------------------------------------------------------------
def test_capabilities_as_json_and_wadl(web: WebArchive) -> None:
    with web.http() as http:
        described = http.get("/")
        assert described.status_code == 200
        paths = {r["path"] for r in described.json()["resources"]}
        assert {"/studies", "/series", "/instances"} <= paths
        wadl = http.get("/", headers={"Accept": "application/vnd.sun.wadl+xml"})
        assert wadl.headers["content-type"].startswith("application/vnd.sun.wadl+xml")
        assert ET.fromstring(wadl.content).tag.endswith("application")
        root_options = http.request("OPTIONS", f"http://127.0.0.1:{web.http_port}/")
        assert root_options.status_code == 200
        assert "resources" in root_options.json()
        studies = http.request("OPTIONS", "/studies")
        assert studies.status_code == 204
        assert {"GET", "POST", "OPTIONS"} <= set(studies.headers["allow"].replace(" ", "")
                                                 .split(","))


# -- WADO-URI -----------------------------------------------------------------------------------
def wado(web: WebArchive, name: str, **params: str) -> dict[str, str]:
    i = web.instance(name)
    return {"requestType": "WADO", "studyUID": i.study, "seriesUID": i.series,
            "objectUID": i.sop, **params}


def test_wado_uri_application_dicom(web: WebArchive) -> None:
    url = f"http://127.0.0.1:{web.http_port}/wado"
    dose_file = web.instance("rtdose.dcm").path
    response = httpx.get(url, params=wado(web, "rtdose.dcm", contentType="application/dicom",
                                          transferSyntax="1.2.840.10008.1.2"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/dicom")
    assert dataset_bytes(response.content) == dataset_bytes(dose_file.read_bytes())
    dose = httpx.get(url, params=wado(web, "rtdose.dcm", contentType="application/dicom",
                                      transferSyntax="1.2.840.10008.1.2.1"))
    assert pydicom.dcmread(io.BytesIO(dose.content)).file_meta \
        .TransferSyntaxUID == "1.2.840.10008.1.2.1"


def test_wado_uri_image(web: WebArchive) -> None:
    url = f"http://127.0.0.1:{web.http_port}/wado"
    response = httpx.get(url, params=wado(web, "CT_small.dcm", windowCenter="40",
                                          windowWidth="400", rows="32"))
    if not rendering_available():
        assert response.status_code == 501
        return
    assert response.status_code == 200, response.text
    if jpeg_available():
        assert response.headers["content-type"] == "image/jpeg"
        assert response.content.startswith(b"\xff\xd8")
    png = httpx.get(url, params=wado(web, "rtdose.dcm", contentType="image/png",
                                     frameNumber="3"))
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


@pytest.mark.parametrize("change, status", [
    ({"requestType": "WADX"}, 400),
    ({"objectUID": ""}, 400),
    ({"objectUID": "1.2.3.4"}, 404),
    ({"contentType": "application/pdf"}, 406),
    ({"anonymize": "yes", "contentType": "application/dicom"}, 501),
])
def test_wado_uri_errors(web: WebArchive, change: dict[str, str], status: int) -> None:
    params = wado(web, "CT_small.dcm", **change)
    response = httpx.get(f"http://127.0.0.1:{web.http_port}/wado", params=params)
    assert response.status_code == status
    assert reason_of(response)


# -- STOW-RS of metadata and bulk data ----------------------------------------------------------
def metadata_request(parts: list[tuple[dict[str, str], bytes]], root: str) -> tuple[bytes, str]:
    boundary = "dicomkit-metadata-boundary"
    body = b""
    for headers, content in parts:
        lines = [f"--{boundary}"] + [f"{k}: {v}" for k, v in headers.items()]
        body += ("\r\n".join(lines) + "\r\n\r\n").encode() + content + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f'multipart/related; type="{root}"; boundary={boundary}'


@pytest.mark.parametrize("model", ["json", "xml"])
def test_stow_of_metadata_with_bulk_data(web: WebArchive, model: str) -> None:
    study, series = generate_uid(), generate_uid()
    ds = make_ct(16, 1, study, series)
    pixels = bytes(ds.PixelData)

    def uri(path: str, element: object) -> str:
        return f"https://client.example/bulk/{ds.SOPInstanceUID}/{path}"

    if model == "json":
        text = "[" + to_json(ds, bulk_data_threshold=256, bulk_data_uri=uri) + "]"
        root = "application/dicom+json"
    else:
        text = to_xml(ds, bulk_data_threshold=256, bulk_data_uri=uri)
        root = "application/dicom+xml"
    body, content_type = metadata_request([
        ({"Content-Type": root}, text.encode()),
        ({"Content-Type": "application/octet-stream",
          "Content-Location": uri("7FE00010", None)}, pixels)], root)
    with web.http() as http:
        response = http.post(f"/studies/{study}", content=body,
                             headers={"Content-Type": content_type})
        assert response.status_code == 200, response.text
        item = response.json()["00081199"]["Value"][0]
        assert item["00081155"]["Value"] == [str(ds.SOPInstanceUID)]
        back = http.get(f"/studies/{study}/series/{series}/instances/{ds.SOPInstanceUID}"
                        "/bulkdata/7FE00010", headers={"Accept": "application/octet-stream"})
        assert back.content == pixels
        missing, content_type = metadata_request([({"Content-Type": root}, text.encode())], root)
        refused = http.post("/studies", content=missing, headers={"Content-Type": content_type})
    assert refused.status_code == 409
    assert "Content-Location" in refused.headers["warning"]


def test_stow_of_metadata_with_a_compressed_frame(web: WebArchive) -> None:
    ds = dicomkit.read(str(pydicom_file("SC_rgb_rle.dcm")))
    frame = next(generate_frames(pydicom.dcmread(pydicom_file("SC_rgb_rle.dcm")).PixelData,
                                 number_of_frames=1))
    ds.SOPInstanceUID = generate_uid()
    text = to_json(ds, bulk_data_threshold=0, bulk_data_uri=lambda path, _e: f"bulk/{path}")
    body, content_type = metadata_request([
        ({"Content-Type": "application/dicom+json"}, text.encode()),
        ({"Content-Type": "image/dicom-rle; transfer-syntax=1.2.840.10008.1.2.5",
          "Content-Location": "bulk/7FE00010"}, frame)], "application/dicom+json")
    with web.http() as http:
        response = http.post("/studies", content=body, headers={"Content-Type": content_type})
        assert response.status_code == 200, response.text
        url = (f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/"
               f"{ds.SOPInstanceUID}")
        found = http.get(url + "/frames/1", headers={
            "Accept": 'multipart/related; type="image/dicom-rle"'})
        stored = http.get(url, headers={"Accept": MULTIPART_DICOM + "; transfer-syntax=*"})
    assert parse_multipart(found)[0][1] == frame
    assert "transfer-syntax=1.2.840.10008.1.2.5" in parse_multipart(stored)[0][0][
        "content-type"]


def test_accepted_http_connections_have_nagle_off() -> None:
    """Small responses must not wait for the client's delayed ACK: every accepted DICOMweb
    connection has TCP_NODELAY set (asyncio sets it only on sockets known to be TCP)."""
    import asyncio
    import socket

    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from dicomkit.web.server import HttpServer

    async def hello(_request: object) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def run() -> list[int]:
        server = HttpServer(Starlette(routes=[Route("/", hello)]), "127.0.0.1", 0)
        await server.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            assert b"200" in await reader.readline()
            assert server._server is not None
            flags = [conn.transport.get_extra_info("socket").getsockopt(
                socket.IPPROTO_TCP, socket.TCP_NODELAY)
                for conn in server._server.server_state.connections]
            writer.close()
            return flags
        finally:
            await server.stop()

    flags = asyncio.run(run())
    assert flags and all(flags), flags


@pytest.mark.parametrize(("part_type", "syntax"), [
    ("image/jls", None),                       # Table 8.7.3-5 default: JPEG-LS lossless
    ("image/jpeg", None),                      # default: JPEG Lossless SV1
    ("image/jp2", "1.2.840.10008.1.2.4.90"),
])
def test_native_frames_encoded_in_a_requested_compressed_media_type(
        web: WebArchive, part_type: str, syntax: str | None) -> None:
    """PS3.18 §8.7.3.3.2: frames of an uncompressed instance, asked for in a compressed
    media type, are encoded in it (lossless defaults); decoded, they are the stored pixels."""
    import imagecodecs

    from dicomkit.web.wado import ENCODED_DEFAULTS

    ct = web.instance("CT_small.dcm")
    original = pydicom.dcmread(ct.path)
    accept = f'multipart/related; type="{part_type}"' + (
        f"; transfer-syntax={syntax}" if syntax else "")
    with web.http() as http:
        response = http.get(f"{web.instance_url('CT_small.dcm')}/frames/1",
                            headers={"Accept": accept})
    assert response.status_code == 200, response.text
    parts = parse_multipart(response)
    assert len(parts) == 1
    headers, body = parts[0]
    expected_ts = syntax or ENCODED_DEFAULTS[part_type]
    assert headers["content-type"].startswith(part_type)
    assert f"transfer-syntax={expected_ts}" in headers["content-type"]
    decoder = {"image/jls": imagecodecs.jpegls_decode, "image/jpeg": imagecodecs.ljpeg_decode,
               "image/jp2": imagecodecs.jpeg2k_decode}[part_type]
    assert (decoder(body).astype(original.pixel_array.dtype) == original.pixel_array).all()


def test_frames_in_lossy_jpeg_of_16_bit_pixels_are_refused_with_406(web: WebArchive) -> None:
    with web.http() as http:
        response = http.get(f"{web.instance_url('CT_small.dcm')}/frames/1", headers={
            "Accept": 'multipart/related; type="image/jpeg"; '
                      "transfer-syntax=1.2.840.10008.1.2.4.50"})
    assert response.status_code == 406, response.text
