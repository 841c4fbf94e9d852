"""``dicomkit serve --config FILE.toml``: the settings a site keeps in a file, and shutdown.

The file names the same settings as the options (aet, dimse_port, bind, data, index,
accept_aets, duplicates, [peers]); options on the command line win over the file. A calling
AE title not in ``accept_aets`` is rejected (PS3.8 Table 9-21: calling-AE-title-not-recognized).
SIGTERM stops the server with exit code 0 and "shutting down" in the log, without leaving a
temporary file behind or losing an acknowledged instance.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

import dicomkit
from tests.support.databases import Backend
from tests.support.datasets import StudySet, synthetic_series
from tests.support.dcmtk import background, run_tool
from tests.support.servers import (
    STOP_DEADLINE,
    ServeFactory,
    dk_find_uids,
    free_port,
    stored_files,
    wait_for_port,
)


def write_config(path: Path, *, port: int, data: Path, index: str | None,
                 peers: dict[str, int], accept: list[str], aet: str = "CONFPACS") -> Path:
    lines = [f'aet = "{aet}"', f"dimse_port = {port}", 'bind = "127.0.0.1"',
             f'data = "{data}"', "accept_aets = [" + ", ".join(f'"{a}"' for a in accept) + "]",
             'duplicates = "replace"']
    if index is not None:
        lines.append(f'index = "{index}"')
    lines.append("")
    lines.append("[peers]")
    lines += [f'{name} = "127.0.0.1:{peer_port}"' for name, peer_port in peers.items()]
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def echo(port: int, calling: str, called: str) -> subprocess.CompletedProcess[str]:
    return run_tool("echoscu", "-v", "-aet", calling, "-aec", called, "127.0.0.1", port,
                    check=False)


def test_config_file_settings_are_honoured(backend: Backend, serve: ServeFactory,
                                           study_set: StudySet, tmp_path: Path,
                                           dcmtk_net: dict[str, str]) -> None:
    port, dest_port = free_port(), free_port()
    data = tmp_path / "from-config"
    index = backend.new_index()
    config = write_config(tmp_path / "dicomkit.toml", port=port, data=data, index=index,
                          peers={"DEST": dest_port}, accept=["MODALITY", "WS1"])
    server = serve.start(["--config", str(config)], port, data, index, "CONFPACS")

    assert echo(port, "MODALITY", "CONFPACS").returncode == 0
    assert echo(port, "WS1", "CONFPACS").returncode == 0
    refused = echo(port, "INTRUDER", "CONFPACS")
    assert refused.returncode != 0
    assert "calling ae title not recognized" in (refused.stdout + refused.stderr).lower()
    wrong_called = echo(port, "MODALITY", "PACS")  # our AE title comes from the file
    assert wrong_called.returncode != 0
    assert "called ae title not recognized" in (wrong_called.stdout
                                                 + wrong_called.stderr).lower()

    ct = next(i for i in study_set.instances if i.path.name == "CT_small.dcm")
    run_tool("storescu", "-aet", "MODALITY", "-aec", "CONFPACS", "127.0.0.1", port, ct.path)
    assert (data / "files" / ct.study / ct.series / f"{ct.sop}.dcm").exists()
    if index is not None:  # the PostgreSQL index named in the file holds it
        from dicomkit.archive.index import ArchiveIndex

        opened = ArchiveIndex(index)
        try:
            assert opened.stats()["instances"] == 1
        finally:
            opened.close()
    else:
        assert (data / "index.sqlite").exists()

    out = tmp_path / "dest"
    out.mkdir()
    dest = background([dcmtk_net["storescp"], "-aet", "DEST", "-od", out, dest_port],
                      tmp_path / "storescp.log")
    try:
        wait_for_port(dest_port, dest.proc, describe=dest.log)
        moved = run_tool("movescu", "-v", "-S", "-aet", "WS1", "-aec", "CONFPACS", "-aem",
                         "DEST", "-k", "QueryRetrieveLevel=STUDY",
                         "-k", f"StudyInstanceUID={ct.study}", "127.0.0.1", port)
        assert "Received Final Move Response (Success)" in moved.stdout + moved.stderr
    finally:
        dest.stop()
    assert [dicomkit.read(str(p)).SOPInstanceUID for p in out.iterdir()] == [ct.sop]

    assert server.stop() == 0, server.log_tail()
    assert "shutting down" in server.log()


def test_command_line_options_win_over_the_config_file(backend: Backend, serve: ServeFactory,
                                                       tmp_path: Path) -> None:
    port, other_port = free_port(), free_port()
    data = tmp_path / "data"
    config = write_config(tmp_path / "dicomkit.toml", port=port, data=data,
                          index=backend.new_index(), peers={}, accept=["MODALITY"])
    server = serve.start(["--config", str(config), "--dimse-port", str(other_port), "--aet",
                          "OVERRIDE", "--accept-aet", "WS2"], other_port, data)
    assert echo(other_port, "WS2", "OVERRIDE").returncode == 0
    assert echo(other_port, "MODALITY", "OVERRIDE").returncode != 0
    assert echo(other_port, "WS2", "CONFPACS").returncode != 0
    assert server.stop() == 0, server.log_tail()


def test_sigterm_with_an_idle_association_open_exits_0(backend: Backend, serve: ServeFactory,
                                                       tmp_path: Path) -> None:
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification

    server = serve(tmp_path / "data", index=backend.new_index())
    ae = AE(ae_title="IDLE")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", server.port, ae_title="PACS")
    assert assoc.is_established
    started = time.monotonic()
    try:
        assert server.stop() == 0, server.log_tail()
    finally:
        assoc.release()
    assert time.monotonic() - started < STOP_DEADLINE
    assert "shutting down" in server.log()


def test_sigterm_during_a_store_burst_exits_0_and_keeps_what_it_acknowledged(
        backend: Backend, serve: ServeFactory, tmp_path: Path,
        dcmtk_net: dict[str, str]) -> None:
    data = tmp_path / "data"
    index = backend.new_index()
    server = serve(data, index=index)
    burst = synthetic_series(tmp_path / "burst", 60, size=8, PatientID="DK-TERM")
    sender = background([dcmtk_net["storescu"], "-v", "-aec", "PACS", "127.0.0.1",
                         server.port, "+sd", burst[0].parent], tmp_path / "storescu.log")
    deadline = time.monotonic() + 60
    while len([p for p in stored_files(data) if p.suffix == ".dcm"]) < 10:
        if time.monotonic() > deadline or sender.proc.poll() is not None:
            pytest.fail(f"no progress\n{sender.log()[-2000:]}\n{server.log_tail()}")
        time.sleep(0.02)
    os.kill(server.pid, signal.SIGTERM)
    assert server.proc.wait(STOP_DEADLINE) == 0, server.log_tail()
    assert "shutting down" in server.log()
    sender.proc.wait(30)
    acknowledged = set()
    current = None
    for line in sender.log().splitlines():
        if "Sending file:" in line:
            current = Path(line.split("Sending file:", 1)[1].strip()).stem
        elif "Received Store Response (Success)" in line and current:
            acknowledged.add(current)
    assert acknowledged
    assert not [p for p in stored_files(data) if p.suffix != ".dcm"], stored_files(data)
    restarted = serve(data, index=index)
    found = dk_find_uids(restarted.port, "IMAGE", "SOPInstanceUID", PatientID="DK-TERM")
    assert acknowledged <= found
    assert restarted.stop() == 0


def test_print_config_table_is_checked() -> None:
    from dicomkit.archive.print_queue import capabilities_from_config

    caps, options = capabilities_from_config({"film_sizes": ["a4", "14INX17IN"],
                                              "default_film_size": "A4", "color": False,
                                              "lp_destination": "laser",
                                              "secondary_capture": True})
    assert caps.film_sizes == ("A4", "14INX17IN") and not caps.color
    assert options == {"lp_destination": "laser", "secondary_capture": True}
    for bad in ({"film_size": ["A4"]}, {"film_sizes": ["9X9"]}, {"max_density": "high"},
                {"min_density": 300, "max_density": 200}, {"custom_formats": {"1": "GRID"}},
                {"color": 1}):
        with pytest.raises(ValueError, match="print"):
            capabilities_from_config(bad)
