"""``dicomkit render``: a frame of an image to PNG (PS3.3 C.11 windows, VOI LUTs and their
functions, as in ``tests/pixels/test_render.py``), to a file or to standard output, with
errors that exit 1 and a ``--help`` with examples."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

import dicomkit
from dicomkit.cli.main import main
from dicomkit.pixels.render import render
from tests.support.pixels import assert_within_one_level, copy_of, dcmtk_render
from tests.support.png import read_png


def test_render_command_writes_the_rendered_png(tmp_path: Path) -> None:
    path = copy_of("CT_small.dcm", tmp_path)
    out = tmp_path / "ct.png"
    assert main(["render", str(path), str(out), "--window", "40", "400"]) == 0
    image = read_png(out.read_bytes())
    assert np.array_equal(image, render(dicomkit.read(path), window=(40, 400)))
    assert_within_one_level(image, dcmtk_render(path, "+Ww", 40, 400))


def test_render_command_frame_voi_and_function(tmp_path: Path) -> None:
    us = copy_of("examples_ybr_color.dcm", tmp_path)
    assert main(["render", str(us), str(tmp_path / "f12.png"), "--frame", "12"]) == 0
    assert np.array_equal(read_png((tmp_path / "f12.png").read_bytes()),
                          render(dicomkit.read(us), frame=11))
    mr = copy_of("examples_overlay.dcm", tmp_path)
    assert main(["render", str(mr), str(tmp_path / "w2.png"), "--voi", "2"]) == 0
    assert np.array_equal(read_png((tmp_path / "w2.png").read_bytes()),
                          render(dicomkit.read(mr), voi_index=1))
    assert main(["render", str(mr), str(tmp_path / "s.png"), "--window", "450", "790",
                 "--function", "SIGMOID"]) == 0
    assert np.array_equal(read_png((tmp_path / "s.png").read_bytes()),
                          render(dicomkit.read(mr), window=(450, 790, "SIGMOID")))


def test_render_command_to_stdout(tmp_path: Path) -> None:
    import os
    import sys

    path = copy_of("MR_small.dcm", tmp_path)
    src = str(Path(dicomkit.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src}
    result = subprocess.run([sys.executable, "-m", "dicomkit.cli.main", "render", str(path),
                             "-"], capture_output=True, env=env, check=False)
    assert result.returncode == 0, result.stderr
    assert np.array_equal(read_png(result.stdout), render(dicomkit.read(path)))


@pytest.mark.parametrize("args, message", [
    (["--frame", "3"], "--frame 3: the image has 1 frame(s)"),
    (["--frame", "0"], "numbered from 1"),
    (["--voi", "2"], "--voi 2: the file has 1 window(s) or VOI LUT(s)"),
    (["--window", "40", "0"], "width 0.0 is below 1"),
])
def test_render_command_errors_exit_1_with_a_message(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
        message: str) -> None:
    path = copy_of("MR_small.dcm", tmp_path)
    out = tmp_path / "out.png"
    assert main(["render", str(path), str(out), *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dicomkit render: ") and message in err
    assert not out.exists()


def test_render_command_on_a_file_that_is_not_dicom(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("not a DICOM file\n" * 20)
    assert main(["render", str(bogus), str(tmp_path / "x.png")]) == 1
    assert "dicomkit render: " in capsys.readouterr().err


def test_render_command_on_a_colour_image_with_a_window(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = copy_of("examples_palette.dcm", tmp_path)
    assert main(["render", str(path), str(tmp_path / "x.png"), "--window", "1", "2"]) == 1
    assert "grayscale" in capsys.readouterr().err


def test_render_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["render", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "dicomkit render ct.dcm lung.png --window -600 1500" in out
