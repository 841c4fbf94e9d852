"""``--config FILE.toml`` of ``dicomkit serve`` and the management commands: an unknown key
is an error (exit status 2, the key and the file named), ``fsync = false`` is ``--no-fsync``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dicomkit.cli.archive import load_settings, open_archive
from dicomkit.cli.main import build_parser, main

ROOT = Path(__file__).resolve().parents[2]


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pacs.toml"
    path.write_text(text, "utf-8")
    return path


@pytest.mark.parametrize("command", ["serve", "import", "ls", "rm", "reindex", "stats"])
def test_an_unknown_key_exits_2_naming_the_key_and_the_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    path = config(tmp_path, f'aet = "PACS"\ndata = "{tmp_path / "data"}"\ndimse_prot = 104\n')
    extra = {"import": [str(tmp_path)], "rm": ["--study", "1.2.3"]}.get(command, [])
    with pytest.raises(SystemExit) as raised:
        main([command, "--config", str(path), *extra])
    assert raised.value.code == 2
    err = capsys.readouterr().err
    assert "'dimse_prot'" in err and str(path) in err
    assert not (tmp_path / "data").exists()  # nothing was started or created


def test_several_unknown_keys_are_all_named(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = config(tmp_path, 'duplicate = "ignore"\n[peer]\nWS1 = "h:1"\n')
    with pytest.raises(SystemExit) as raised:
        main(["stats", "--config", str(path)])
    assert raised.value.code == 2
    err = capsys.readouterr().err
    assert "'duplicate', 'peer'" in err


def test_serve_with_a_typo_in_its_config_exits_2(tmp_path: Path) -> None:
    path = config(tmp_path, 'aet = "PACS"\naccept_aet = ["CT1"]\n')
    result = subprocess.run([sys.executable, "-m", "dicomkit.cli.main", "serve", "--config",
                             str(path), "--data", str(tmp_path / "data"), "--no-http"],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path,
                            env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 2, result.stderr
    assert "'accept_aet'" in result.stderr and str(path) in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_toml_and_a_missing_file_exit_2(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    for path in (config(tmp_path, "aet = PACS\n"), tmp_path / "missing.toml"):
        with pytest.raises(SystemExit) as raised:
            main(["stats", "--config", str(path)])
        assert raised.value.code == 2
        assert str(path) in capsys.readouterr().err


def test_fsync_false_in_the_file_is_no_fsync(tmp_path: Path) -> None:
    path = config(tmp_path, f'fsync = false\ndata = "{tmp_path / "data"}"\n')
    serve = build_parser("serve").parse_args(["serve", "--config", str(path)])
    assert load_settings(serve)["fsync"] is False
    stats = build_parser("stats").parse_args(["stats", "--config", str(path)])
    archive = open_archive(stats)
    try:
        assert archive.fsync is False
    finally:
        archive.close()
    default = build_parser("serve").parse_args(["serve"])
    assert load_settings(default)["fsync"] is True
    flag = build_parser("serve").parse_args(["serve", "--no-fsync"])
    assert load_settings(flag)["fsync"] is False


def test_fsync_must_be_a_boolean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = config(tmp_path, 'fsync = "no"\n')
    with pytest.raises(SystemExit) as raised:
        main(["stats", "--config", str(path)])
    assert raised.value.code == 2
    assert "fsync" in capsys.readouterr().err


@pytest.mark.parametrize("value, size", [("4G", 4 << 30), ('"512M"', 512 << 20),
                                         ("1048576", 1 << 20), ('"2GiB"', 2 << 30)])
def test_max_inflated_size_in_the_file_and_as_an_option(tmp_path: Path, value: str,
                                                        size: int) -> None:
    if value == "4G":  # the default, with no file
        serve = build_parser("serve").parse_args(["serve"])
    else:
        path = config(tmp_path, f'max_inflated_size = {value}\ndata = "{tmp_path / "data"}"\n')
        serve = build_parser("serve").parse_args(["serve", "--config", str(path)])
        stats = build_parser("stats").parse_args(["stats", "--config", str(path)])
        archive = open_archive(stats)
        try:
            assert archive.max_inflated == size
        finally:
            archive.close()
    assert load_settings(serve)["max_inflated_size"] == size
    option = build_parser("serve").parse_args(["serve", "--max-inflated-size", "3k"])
    assert load_settings(option)["max_inflated_size"] == 3 << 10


@pytest.mark.parametrize("value", ['"lots"', "0", '"-1G"', '"4X"', "true"])
def test_a_bad_max_inflated_size_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         value: str) -> None:
    path = config(tmp_path, f"max_inflated_size = {value}\n")
    with pytest.raises(SystemExit) as raised:
        main(["stats", "--config", str(path)])
    assert raised.value.code == 2
    assert "max_inflated_size" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["lots", "0", "-1G", "4X"])
def test_a_bad_max_inflated_size_option_is_a_usage_error(
        capsys: pytest.CaptureFixture[str], value: str) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["serve", f"--max-inflated-size={value}"])
    assert raised.value.code == 2
    assert "--max-inflated-size" in capsys.readouterr().err
