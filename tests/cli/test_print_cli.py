"""``dicomkit print``: usage errors (exit 2), an unreachable printer (exit 1), the print job's
final status as the exit status, ``--help`` with examples."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from dicomkit.cli.main import main
from dicomkit.services.print import PrintedFilm, PrintSCP
from tests.support.dimse import ServerThread
from tests.support.printing import ct_slices
from tests.support.servers import free_port


class Output:
    def __init__(self, fail: bool) -> None:
        self.fail = fail

    def print_films(self, films: Sequence[PrintedFilm]) -> list[str]:
        if self.fail:
            raise OSError("no paper")
        return ["ok"] * len(films)


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["print", "--help"])
    out = capsys.readouterr().out
    assert "STANDARD\\2,2" in out and "print ls" in out


@pytest.mark.parametrize("args", [["print", "host"], ["print", "host", "x", "a.dcm"],
                                  ["print", "host", "104"],
                                  ["print", "host", "104", "a.dcm", "--format", "GRID"],
                                  ["print", "host", "104", "a.dcm", "--window", "40"],
                                  ["print", "host", "104", "a.dcm", "--copies", "0"],
                                  ["print", "host", "104", "--bogus", "a.dcm"]])
def test_usage_errors_exit_2(args: list[str], tmp_path: Path) -> None:
    try:
        code = main(args)
    except SystemExit as exc:
        code = int(exc.code or 0)
    assert code == 2


def test_a_missing_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["print", "127.0.0.1", str(free_port()), str(tmp_path / "nope.dcm")]) == 2
    assert "nope.dcm" in capsys.readouterr().err


def test_no_printer_exits_1(tmp_path: Path) -> None:
    (ct,) = ct_slices(tmp_path, 1)
    assert main(["print", "127.0.0.1", str(free_port()), str(ct), "-q"]) == 1


@pytest.mark.parametrize(("fail", "code"), [(False, 0), (True, 1)])
def test_exit_status_is_the_jobs_final_status(tmp_path: Path, fail: bool, code: int,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    (ct,) = ct_slices(tmp_path, 1)
    with ServerThread(handler=PrintSCP(Output(fail)), ae_title="FILMER") as server:
        got = main(["print", "127.0.0.1", str(server.port), "--aec", "FILMER", str(ct)])
    assert got == code
    assert ("FAILURE" if fail else "DONE") in capsys.readouterr().out
