"""``serve --ian-peer AET --ian-stable SECONDS`` and their config file keys ``ian_peers`` and
``ian_stable``: read, merged (the file's peers plus the options'), and refused when malformed."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from dicomkit.cli.archive import load_settings


def settings(tmp_path: Path, toml: str | None = None, **options: object) -> dict[str, object]:
    args = argparse.Namespace(**{"config": None, "ian_peer": [], "ian_stable": None,
                                 **options})
    if toml is not None:
        path = tmp_path / "dicomkit.toml"
        path.write_text(toml, "utf-8")
        args.config = str(path)
    return load_settings(args)


def test_defaults(tmp_path: Path) -> None:
    found = settings(tmp_path)
    assert found["ian_peers"] == [] and found["ian_stable"] == 60


def test_file_and_options_merge(tmp_path: Path) -> None:
    found = settings(tmp_path, 'ian_peers = ["RIS"]\nian_stable = 5\n', ian_peer=["VNA"],
                     ian_stable=2.5)
    assert found["ian_peers"] == ["RIS", "VNA"] and found["ian_stable"] == 2.5


@pytest.mark.parametrize("toml", ['ian_peers = "RIS"\n', "ian_peers = [1]\n",
                                  "ian_stable = -1\n", 'ian_stable = "soon"\n',
                                  "ian_stable = true\n"])
def test_malformed_file_values_exit_2(tmp_path: Path, toml: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        settings(tmp_path, toml)
    assert stopped.value.code == 2
    assert "ian_" in capsys.readouterr().err


def test_negative_option_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="ian_stable -1.0"):
        settings(tmp_path, ian_stable=-1.0)
