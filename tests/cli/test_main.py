"""The command table of cli/main.py: one list of commands, each registered by its module."""

from __future__ import annotations

import argparse
import importlib

import pytest

from dicomkit.cli import main


def test_each_module_registers_exactly_the_commands_the_table_lists() -> None:
    for module in main.MODULES:
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers(dest="command")
        importlib.import_module(f"dicomkit.cli.{module}").add_parser(sub)
        registered = set(sub.choices)
        listed = {name for name, owner in main.COMMANDS.items() if owner == module}
        assert registered == listed, module


def test_a_command_builds_only_its_own_module_parser() -> None:
    parser = main.build_parser("dump")
    assert parser.parse_args(["dump", "x.dcm"]).command == "dump"
    with pytest.raises(SystemExit):
        parser.parse_args(["convert", "a.dcm", "b.dcm"])
