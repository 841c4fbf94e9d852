"""Per-AE permissions of ``dicomkit serve`` (``[ae.TITLE]`` tables, ``ae_default``), with
DCMTK's storescu, findscu, movescu, getscu and echoscu as the calling AEs, on both index
back ends.

- ``ae_default = "deny"``: an unlisted calling AE is rejected at association (PS3.8 Table
  9-21, calling-AE-title-not-recognized).
- A request the AE may not make is refused with 0124H "Refused: Not Authorised" (PS3.7 Annex
  C; PS3.4 Storage and Q/R), and nothing is stored, found or sent.
- C-MOVE to a known destination the AE may not use: 0124H; to an unknown one: A801H.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.databases import Backend
from tests.support.datasets import StudySet
from tests.support.dcmtk import background, run_tool
from tests.support.servers import Serve, ServeFactory, free_port, wait_for_port


@dataclass
class Guarded:
    server: Serve
    dest_port: int
    dest_out: Path
    study_set: StudySet

    @property
    def port(self) -> int:
        return self.server.port


@pytest.fixture(scope="module")
def guarded(backend: Backend, module_serve: ServeFactory, study_set: StudySet,
            dcmtk_net: dict[str, str],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guarded]:
    folder = tmp_path_factory.mktemp("permissions")
    port, dest_port, other_port = free_port(), free_port(), free_port()
    index = backend.new_index()
    lines = ['aet = "PACS"', f"dimse_port = {port}", 'bind = "127.0.0.1"',
             f'data = "{folder / "data"}"', "http = false", 'ae_default = "deny"']
    if index is not None:
        lines.append(f'index = "{index}"')
    lines += ["[peers]", f'DEST = "127.0.0.1:{dest_port}"', f'OTHER = "127.0.0.1:{other_port}"',
              "[ae.MODALITY]", 'permissions = ["store"]',
              "[ae.VIEWER]", 'permissions = ["query", "retrieve"]',
              'move_destinations = ["DEST"]',
              "[ae.READER]", 'permissions = ["query"]']
    config = folder / "pacs.toml"
    config.write_text("\n".join(lines) + "\n", "utf-8")
    server = module_serve.start(["--config", str(config)], port, folder / "data", index)
    dest_out = folder / "dest"
    dest_out.mkdir()
    dest = background([dcmtk_net["storescp"], "-aet", "DEST", "-od", dest_out, dest_port],
                      folder / "storescp.log")
    wait_for_port(dest_port, dest.proc, describe=dest.log)
    result = run_tool("storescu", "-v", "-aet", "MODALITY", "-aec", "PACS", "127.0.0.1", port,
                      "+sd", study_set.folder)
    output = result.stdout + result.stderr
    assert output.count("Received Store Response (Success)") == len(study_set.instances), output
    yield Guarded(server, dest_port, dest_out, study_set)
    dest.stop()
    assert server.stop() == 0, server.log_tail()


def tool(name: str, calling: str, port: int, *args: Any) -> str:
    result = run_tool(name, "-d", "-aet", calling, "-aec", "PACS", *args, "127.0.0.1", port,
                      check=False)
    return result.stdout + result.stderr


def study_keys(study: str) -> list[str]:
    return ["-S", "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}"]


def test_an_unlisted_calling_ae_is_rejected_at_association(guarded: Guarded) -> None:
    output = tool("echoscu", "INTRUDER", guarded.port).lower()
    assert "calling ae title not recognized" in output
    assert "association rejected" in output


def test_a_listed_ae_may_always_echo(guarded: Guarded) -> None:
    output = tool("echoscu", "READER", guarded.port)
    assert "Received Echo Response (Success)" in output


def test_store_without_the_store_permission_is_refused_0124(guarded: Guarded,
                                                            tmp_path: Path) -> None:
    from tests.support.datasets import synthetic_series

    [path] = synthetic_series(tmp_path / "new", 1)
    result = run_tool("storescu", "-d", "-aet", "VIEWER", "-aec", "PACS", "127.0.0.1",
                      guarded.port, path, check=False)
    output = result.stdout + result.stderr
    assert "0x0124" in output, output[-2000:]
    assert "Received Store Response (Success)" not in output
    import dicomkit

    study = str(dicomkit.read(str(path), stop_before_pixels=True).StudyInstanceUID)
    assert not (guarded.server.data / "files" / study).exists()


def test_find_needs_the_query_permission(guarded: Guarded, tmp_path: Path) -> None:
    study = guarded.study_set.synthetic_study
    refused = tool("findscu", "MODALITY", guarded.port, *study_keys(study))
    assert "0x0124" in refused, refused[-2000:]
    assert "0xff00: Pending" not in refused
    allowed = tool("findscu", "READER", guarded.port, *study_keys(study))
    assert "0xff00: Pending" in allowed, allowed[-2000:]
    assert study in allowed


def test_move_needs_the_retrieve_permission(guarded: Guarded) -> None:
    study = guarded.study_set.synthetic_study
    before = set(guarded.dest_out.iterdir())
    output = tool("movescu", "READER", guarded.port, "-aem", "DEST", *study_keys(study))
    assert "0x0124" in output, output[-2000:]
    assert set(guarded.dest_out.iterdir()) == before


def test_move_to_a_destination_not_permitted_is_refused_0124(guarded: Guarded) -> None:
    study = guarded.study_set.synthetic_study
    output = tool("movescu", "VIEWER", guarded.port, "-aem", "OTHER", *study_keys(study))
    assert "0x0124" in output, output[-2000:]


def test_move_to_an_unknown_destination_is_still_a801(guarded: Guarded) -> None:
    study = guarded.study_set.synthetic_study
    output = tool("movescu", "VIEWER", guarded.port, "-aem", "NOWHERE", *study_keys(study))
    assert "0xa801" in output.lower(), output[-2000:]


def test_move_to_a_permitted_destination_sends_the_study(guarded: Guarded) -> None:
    s = guarded.study_set
    output = tool("movescu", "VIEWER", guarded.port, "-aem", "DEST",
                  *study_keys(s.synthetic_study))
    assert "0x0000: Success: Sub-operations complete" in output, output[-2000:]
    arrived = {p.name.split(".", 1)[1] for p in guarded.dest_out.iterdir()}
    assert arrived == s.sops_of(s.synthetic_study)


def test_get_needs_the_retrieve_permission(guarded: Guarded, tmp_path: Path) -> None:
    s = guarded.study_set
    refused_out, allowed_out = tmp_path / "refused", tmp_path / "allowed"
    refused_out.mkdir()
    allowed_out.mkdir()
    refused = tool("getscu", "READER", guarded.port, "-od", refused_out,
                   *study_keys(s.synthetic_study))
    assert "0x0124" in refused, refused[-2000:]
    assert not list(refused_out.iterdir())
    allowed = tool("getscu", "VIEWER", guarded.port, "-od", allowed_out,
                   *study_keys(s.synthetic_study))
    assert "Number of Completed Suboperations : 5" in allowed, allowed[-2000:]
    assert len(list(allowed_out.iterdir())) == 5


def test_a_bad_permission_table_is_a_config_error(serve: ServeFactory, tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[ae.MODALITY]\npermissions = ["store", "write"]\n', "utf-8")
    server = serve.start(["--config", str(config), "--data", str(tmp_path / "d")], free_port(),
                         tmp_path / "d", wait=False)
    assert server.proc.wait(60) == 2
    assert "[ae.MODALITY] permissions: unknown write" in server.log()
