"""``dicomkit commit`` (Storage Commitment SCU, PS3.4 Annex J) run as a script would run it,
against a real ``dicomkit serve`` on both index back ends: the report on the same association
and on a new association to the command's own listener, failures, a timeout and bad files,
judged by exit status and output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.databases import Backend
from tests.support.datasets import synthetic_series
from tests.support.servers import Serve, ServeFactory, free_port

SRC = str(Path(__file__).resolve().parents[2] / "src")


def dicomkit_cli(*args: Any, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    path = os.environ.get("PYTHONPATH", "")
    env = {**os.environ, "PYTHONPATH": SRC + (os.pathsep + path if path else "")}
    return subprocess.run([sys.executable, "-m", "dicomkit.cli.main", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=timeout,
                          check=False)


@dataclass
class Setup:
    server: Serve
    listen_port: int
    stored: list[Path]
    not_stored: Path


@pytest.fixture(scope="module")
def setup(backend: Backend, module_serve: ServeFactory,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    source = tmp_path_factory.mktemp(f"commit-cli-{backend.name}")
    stored = synthetic_series(source / "stored", 3, PatientID="DK-COMMIT-CLI")
    (not_stored,) = synthetic_series(source / "other", 1)
    data = tmp_path_factory.mktemp(f"commit-cli-data-{backend.name}")
    listen_port = free_port()
    server = module_serve(data, index=backend.new_index(), peers={"CLIMOD": listen_port})
    done = dicomkit_cli("store", "127.0.0.1", server.port, "--aec", "PACS", *stored)
    assert done.returncode == 0, done.stderr
    yield Setup(server, listen_port, stored, not_stored)
    assert server.stop() == 0, server.log_tail()


def test_same_association_all_committed(setup: Setup) -> None:
    done = dicomkit_cli("commit", "127.0.0.1", setup.server.port, "--aec", "PACS",
                        *setup.stored)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("SOP Instance UID")
    assert sum("committed" in line for line in lines[1:-1]) == 3
    assert lines[-1].endswith("3 of 3 committed")


def test_a_failed_instance_exits_1_and_json_names_the_reason(setup: Setup) -> None:
    done = dicomkit_cli("commit", "127.0.0.1", setup.server.port, "--aec", "PACS", "--json",
                        setup.stored[0], setup.not_stored)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["event_type"] == 2 and report["all_committed"] is False
    outcome = {Path(i["file"]).name: (i["committed"], i["failure_reason"])
               for i in report["instances"]}
    assert outcome == {setup.stored[0].name: (True, None),
                       setup.not_stored.name: (False, "0112")}


def test_new_association_to_our_listener(setup: Setup) -> None:
    done = dicomkit_cli("commit", "127.0.0.1", setup.server.port, "--aec", "PACS",
                        "--aet", "CLIMOD", "--port", setup.listen_port, "--bind", "127.0.0.1",
                        "--json", *setup.stored)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["event_type"] == 1
    assert all(i["committed"] for i in report["instances"])


def test_no_report_within_wait_exits_3(setup: Setup) -> None:
    """The archive knows no peer NOBODY: after the release the report cannot reach us."""
    done = dicomkit_cli("commit", "127.0.0.1", setup.server.port, "--aec", "PACS",
                        "--aet", "NOBODY", "--port", free_port(), "--bind", "127.0.0.1",
                        "--wait", "3", setup.stored[0])
    assert done.returncode == 3
    assert "no report of transaction" in done.stderr


def test_a_file_that_is_not_dicom_is_a_usage_error_naming_it(setup: Setup,
                                                              tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("not DICOM")
    done = dicomkit_cli("commit", "127.0.0.1", setup.server.port, "--aec", "PACS",
                        setup.stored[0], bad)
    assert done.returncode == 2
    assert "notes.txt" in done.stderr and "not a DICOM instance" in done.stderr


def test_a_refused_request_exits_1_with_the_status(setup: Setup) -> None:
    done = dicomkit_cli("commit", "127.0.0.1", setup.server.port, "--aec", "PACS",
                        "--transaction-uid", "1.2.3", setup.stored[0])
    assert done.returncode == 0, done.stderr  # a valid UID: accepted
    done = dicomkit_cli("commit", "127.0.0.1", setup.server.port, "--aec", "PACS",
                        "--transaction-uid", "1.02", setup.stored[0])
    assert done.returncode == 2 and "not a UID" in done.stderr
