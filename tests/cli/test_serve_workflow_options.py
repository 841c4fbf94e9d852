"""The workflow options of ``dicomkit serve`` (--ian-*, --mpps-forward, --hl7-*): each is in
``--help`` once, its TOML key once in the help's config example (which is a valid file), and
both in the Configuration table of docs/archive.md."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from dicomkit.cli.archive import SERVE_EPILOG, load_settings
from dicomkit.cli.main import build_parser, main

ROOT = Path(__file__).resolve().parents[2]

WORKFLOW = {"--ian-peer": "ian_peers", "--ian-stable": "ian_stable",
            "--mpps-forward": "mpps_forward", "--hl7-port": "hl7_port",
            "--hl7-bind": "hl7_bind", "--hl7-station": "hl7_station",
            "--hl7-max-message": "hl7_max_message"}


def example_toml() -> str:
    text = SERVE_EPILOG.split("config file (TOML), same names as the options:\n", 1)[1]
    lines = []
    for line in text.splitlines():
        if not line.startswith("  "):
            break
        lines.append(line[2:])
    return "\n".join(lines) + "\n"


def help_text(capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as raised:
        main(["serve", "--help"])
    assert raised.value.code == 0
    return capsys.readouterr().out


def configuration_table() -> str:
    doc = (ROOT / "docs" / "archive.md").read_text("utf-8")
    return doc.split("## Configuration", 1)[1].split("\n## ", 1)[0]


@pytest.mark.parametrize("option, key", WORKFLOW.items())
def test_each_workflow_option_is_documented_once(option: str, key: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    options = help_text(capsys).split("options:", 1)[1].split("examples:", 1)[0]
    assert len(re.findall(rf"^  {re.escape(option)}\b", options, re.M)) == 1, option
    assert len(re.findall(rf"^{re.escape(key)} =", example_toml(), re.M)) == 1, key
    table = configuration_table()
    assert f"`{option}" in table and f"`{key}" in table, (option, key)


def test_the_help_config_example_is_a_valid_file(tmp_path: Path) -> None:
    text = example_toml()
    parsed = tomllib.loads(text)
    assert set(WORKFLOW.values()) <= set(parsed)
    # The example names files of the operator's machine; the ones serve reads at start-up are
    # made here so that the rest of the example is checked as it stands.
    key = tmp_path / "deid.key"
    key.write_text("a secret of the test\n", "utf-8")
    assert parsed["deid_key_file"] == "/etc/pacs/deid.key"
    text = text.replace('"/etc/pacs/deid.key"', f'"{key}"')
    path = tmp_path / "pacs.toml"
    path.write_text(text, "utf-8")
    settings = load_settings(build_parser("serve").parse_args(["serve", "--config",
                                                                str(path)]))
    assert settings["mpps_forward"] == ["RIS"] and settings["ian_peers"] == ["RIS"]
    assert settings["hl7_max_message"] == 1 << 20
    assert settings["ae"]["MODALITY1"]["permissions"] == ["store", "query", "mpps", "commit"]


def test_hl7_max_message_as_an_option() -> None:
    args = build_parser("serve").parse_args(["serve", "--hl7-max-message", "64K"])
    assert load_settings(args)["hl7_max_message"] == 64 << 10


def test_a_bad_hl7_max_message_option_is_a_usage_error(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["serve", "--hl7-max-message=lots"])
    assert raised.value.code == 2
    assert "--hl7-max-message" in capsys.readouterr().err
