"""``serve --commitment-report-delay SECONDS`` and its config file key
``commitment_report_delay``: None (the service's default) unless given, the option over the
file, and refused outside 0–60 seconds."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from dicomkit.cli.archive import load_settings
from dicomkit.services.commitment import SAME_ASSOCIATION_DELAY, StorageCommitmentSCP


def settings(tmp_path: Path, toml: str | None = None, **options: object) -> dict[str, object]:
    args = argparse.Namespace(**{"config": None, "commitment_report_delay": None, **options})
    if toml is not None:
        path = tmp_path / "dicomkit.toml"
        path.write_text(toml, "utf-8")
        args.config = str(path)
    return load_settings(args)


def test_default_is_the_services_constant(tmp_path: Path) -> None:
    assert settings(tmp_path)["commitment_report_delay"] is None
    assert SAME_ASSOCIATION_DELAY == 0.0
    scp = StorageCommitmentSCP(None, None, ae_title="PACS")  # type: ignore[arg-type]
    assert scp.same_association_delay == SAME_ASSOCIATION_DELAY


def test_file_then_option(tmp_path: Path) -> None:
    assert settings(tmp_path, "commitment_report_delay = 0.5\n")[
        "commitment_report_delay"] == 0.5
    assert settings(tmp_path, "commitment_report_delay = 0.5\n", commitment_report_delay=0.0)[
        "commitment_report_delay"] == 0.0


@pytest.mark.parametrize("toml", ["commitment_report_delay = -1\n",
                                  'commitment_report_delay = "soon"\n',
                                  "commitment_report_delay = true\n",
                                  "commitment_report_delay = 61\n"])
def test_malformed_file_values_exit_2(tmp_path: Path, toml: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        settings(tmp_path, toml)
    assert stopped.value.code == 2
    assert "commitment_report_delay" in capsys.readouterr().err


def test_out_of_range_option_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="commitment_report_delay -1.0"):
        settings(tmp_path, commitment_report_delay=-1.0)
