"""Rendering with a presentation state over DICOMweb: WADO-URI ``presentationUID`` and
``presentationSeriesUID`` (PS3.18 §8.2.9; the archive finds the GSPS in its index) and the
rendered resource of a GSPS instance (its referenced image as it presents it, §9.5.2 /
PS3.4 N.2). On SQLite and PostgreSQL (the ``web`` fixture)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

import dicomkit
from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import generate_uid
from dicomkit.pixels.presentation import PresentationState, render_with_presentation
from dicomkit.web.pixels import rendering_available
from tests.support.pixels import run_tool
from tests.support.png import read_png
from tests.support.web import WebArchive, stow

pytestmark = pytest.mark.skipif(not rendering_available(),
                                reason="dicomkit.pixels.render is not available")


@pytest.fixture(scope="module")
def stored_pr(web: WebArchive, tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    folder = tmp_path_factory.mktemp("pr")
    image = web.study_set.folder / "CT_small.dcm"
    path = folder / "pr.dcm"
    run_tool("dcmpsmk", image, path)
    pr = dicomkit.read(path)
    window = Dataset()
    window.WindowCenter, window.WindowWidth = 40, 400
    pr.SoftcopyVOILUTSequence = [window]
    pr.ImageRotation, pr.ImageHorizontalFlip = 180, "N"
    dicomkit.write(pr, path)
    response = stow(web.root, [path])
    assert response.status_code == 200, response.text
    return dicomkit.read(path)


def _expected(web: WebArchive, pr: Dataset) -> np.ndarray:
    image = dicomkit.read(web.study_set.folder / "CT_small.dcm")
    return render_with_presentation(image, PresentationState.from_dataset(pr))


def test_wado_uri_renders_with_the_presentation_state(web: WebArchive,
                                                      stored_pr: Dataset) -> None:
    ct = web.instance("CT_small.dcm")
    params = {"requestType": "WADO", "studyUID": ct.study, "seriesUID": ct.series,
              "objectUID": ct.sop, "contentType": "image/png",
              "presentationUID": stored_pr.SOPInstanceUID,
              "presentationSeriesUID": stored_pr.SeriesInstanceUID}
    with web.http() as http:
        response = http.get(web.root.rsplit("/", 1)[0] + "/wado", params=params)
    assert response.status_code == 200, response.text
    shown = read_png(response.content)
    assert np.array_equal(shown, _expected(web, stored_pr))
    plain = dicomkit.read(web.study_set.folder / "CT_small.dcm")
    assert not np.array_equal(shown, plain.pixel_array)  # rotated and windowed


def test_the_rendered_presentation_state_instance(web: WebArchive,
                                                  stored_pr: Dataset) -> None:
    url = (f"/studies/{stored_pr.StudyInstanceUID}/series/{stored_pr.SeriesInstanceUID}"
           f"/instances/{stored_pr.SOPInstanceUID}/rendered")
    with web.http() as http:
        response = http.get(url, headers={"Accept": "image/png"})
    assert response.status_code == 200, response.text
    assert np.array_equal(read_png(response.content), _expected(web, stored_pr))


def test_wado_uri_presentation_errors(web: WebArchive, stored_pr: Dataset) -> None:
    ct = web.instance("CT_small.dcm")
    base = {"requestType": "WADO", "studyUID": ct.study, "seriesUID": ct.series,
            "objectUID": ct.sop, "contentType": "image/png"}
    cases = [
        ({"presentationUID": stored_pr.SOPInstanceUID}, 400, "go together"),
        ({"presentationUID": ct.sop, "presentationSeriesUID": ct.series}, 400,
         "not a Grayscale Softcopy Presentation State"),
        ({"presentationUID": "1.2.3.4", "presentationSeriesUID": stored_pr.SeriesInstanceUID},
         404, ""),
        ({"presentationUID": stored_pr.SOPInstanceUID,
          "presentationSeriesUID": stored_pr.SeriesInstanceUID, "windowCenter": "1",
          "windowWidth": "2"}, 400, "may not be given"),
    ]
    with web.http() as http:
        for extra, status, text in cases:
            response = http.get(web.root.rsplit("/", 1)[0] + "/wado",
                                params={**base, **extra})
            assert response.status_code == status, (extra, response.text)
            assert text in response.text


def test_a_pr_that_does_not_reference_the_image_is_a_client_error(
        web: WebArchive, stored_pr: Dataset, tmp_path: Path) -> None:
    other = copy.deepcopy(stored_pr)
    other.SOPInstanceUID = generate_uid()
    other.ReferencedSeriesSequence[0].ReferencedImageSequence[0].ReferencedSOPInstanceUID = \
        generate_uid()
    path = tmp_path / "other-pr.dcm"
    dicomkit.write(other, path)
    assert stow(web.root, [path]).status_code == 200
    ct = web.instance("CT_small.dcm")
    params = {"requestType": "WADO", "studyUID": ct.study, "seriesUID": ct.series,
              "objectUID": ct.sop, "contentType": "image/png",
              "presentationUID": other.SOPInstanceUID,
              "presentationSeriesUID": other.SeriesInstanceUID}
    with web.http() as http:
        response = http.get(web.root.rsplit("/", 1)[0] + "/wado", params=params)
    assert response.status_code == 400
    assert "does not reference the image" in response.text
