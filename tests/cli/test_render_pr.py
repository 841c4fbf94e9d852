"""``dicomkit render IMAGE --pr PR.dcm -o OUT.png``: the image as a Grayscale Softcopy
Presentation State presents it (the rendering itself is tested in
tests/pixels/test_presentation.py, against dcmp2pgm)."""

from __future__ import annotations

from pathlib import Path

import pytest

import dicomkit
from dicomkit.cli.main import main
from dicomkit.core.dataset import Dataset
from tests.support.pixels import assert_within_one_level, copy_of, run_tool
from tests.support.png import read_png


@pytest.fixture
def image_and_pr(tmp_path: Path) -> tuple[Path, Path]:
    image = copy_of("CT_small.dcm", tmp_path)
    pr = tmp_path / "pr.dcm"
    run_tool("dcmpsmk", image, pr)
    state = dicomkit.read(pr)
    window = Dataset()
    window.WindowCenter, window.WindowWidth = 40, 400
    state.SoftcopyVOILUTSequence = [window]
    state.ImageRotation, state.ImageHorizontalFlip = 90, "Y"
    dicomkit.write(state, pr)
    return image, pr


def test_render_with_a_presentation_state(image_and_pr: tuple[Path, Path],
                                          tmp_path: Path) -> None:
    image, pr = image_and_pr
    out = tmp_path / "shown.png"
    assert main(["render", str(image), "--pr", str(pr), "-o", str(out)]) == 0
    shown = read_png(out.read_bytes())
    run_tool("dcmp2pgm", "-p", pr, image, tmp_path / "dcmtk.pgm")
    data = (tmp_path / "dcmtk.pgm").read_bytes().split(maxsplit=4)
    import numpy as np

    theirs = np.frombuffer(data[4][:128 * 128], np.uint8).reshape(128, 128)
    assert_within_one_level(shown, theirs)
    assert main(["render", str(image), "--pr", str(pr), "--size", "64", "64", "-o",
                 str(tmp_path / "small.png")]) == 0
    assert read_png((tmp_path / "small.png").read_bytes()).shape == (64, 64)


def test_pr_errors_exit_1(image_and_pr: tuple[Path, Path], tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    image, pr = image_and_pr
    out = str(tmp_path / "x.png")
    assert main(["render", str(image), "--pr", str(pr), "--window", "1", "2", "-o", out]) == 1
    assert "--window and --pr" in capsys.readouterr().err
    other = copy_of("MR_small.dcm", tmp_path)
    assert main(["render", str(other), "--pr", str(pr), "-o", out]) == 1
    assert "does not reference the image" in capsys.readouterr().err
    assert main(["render", str(image)]) == 1
    assert "no output" in capsys.readouterr().err


def test_help_shows_the_presentation_state_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["render", "--help"])
    assert "--pr cr-pr.dcm -o shown.png" in capsys.readouterr().out
