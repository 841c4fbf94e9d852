"""De-identify on export (archive/deid_export.py), on both index back ends, with DCMTK as the
peers: ``dicomkit serve --deid-peer DEST --deid-peer GETTER=retain-longitudinal-modified-dates``;
DCMTK storescu stores the study set, movescu moves a study to a storescp named DEST (a
de-identifying peer) and to one named PLAIN (not), getscu retrieves as GETTER. What arrives at a
de-identifying peer is walked against PS3.15 Table E.1-1 (the generated table, not a hand list):
no attribute the table removes survives, none it replaces keeps its original value, UIDs are the
keyed ones (so the same as ``dicomkit deid --key`` gives, in every export); the plain peer gets
the stored files; the audit trail names the original patient and says the copies were
de-identified."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import dicomkit
from dicomkit.core.dataset import Dataset
from dicomkit.deid import Keys, table
from tests.support.audit import validate
from tests.support.databases import Backend
from tests.support.datasets import StudySet
from tests.support.dcmtk import background, run_tool
from tests.support.servers import ServeFactory, free_port, wait_for_port

KEY = "export-secret"
GET_OPTIONS = frozenset({"retain-longitudinal-modified-dates"})


@dataclass
class Exported:
    study_set: StudySet
    moved: dict[str, list[Path]]  # "DEST", "DEST-again", "PLAIN" -> received files
    got: list[Path]
    audit: list[Any]
    ct_study: str


def _receive(dcmtk_net: dict[str, str], folder: Path, aet: str, port: int, server_port: int,
             study: str) -> list[Path]:
    out = folder / f"{aet}-{len(list(folder.iterdir()))}"
    out.mkdir()
    dest = background([dcmtk_net["storescp"], "-aet", aet, "-od", out, port],
                      folder / f"storescp-{out.name}.log")
    try:
        wait_for_port(port, dest.proc, describe=dest.log)
        run_tool("movescu", "-S", "-aet", "MOVER", "-aec", "PACS", "-aem", aet, "-k",
                 "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}",
                 "127.0.0.1", server_port)
    finally:
        dest.stop()
    return sorted(out.iterdir())


@pytest.fixture(scope="module")
def exported(backend: Backend, module_serve: ServeFactory, study_set: StudySet,
             dcmtk_net: dict[str, str], tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Exported]:
    folder = tmp_path_factory.mktemp(f"deid-export-{backend.name}")
    key_file = folder / "deid.key"
    key_file.write_text(KEY + "\n")
    audit_file = folder / "audit.log"
    received = folder / "received"
    received.mkdir()
    dest_port, plain_port = free_port(), free_port()
    server = module_serve(folder / "data", index=backend.new_index(),
                          peers={"DEST": dest_port, "PLAIN": plain_port}, args=[
        "--no-http", "--no-fsync", "--deid-peer", "DEST",
        "--deid-peer", "GETTER=" + ",".join(GET_OPTIONS), "--deid-key-file", str(key_file),
        "--audit-file", str(audit_file)])
    ct_study = study_set.study_of("CT_small.dcm")
    try:
        run_tool("storescu", "-aet", "MODALITY1", "-aec", "PACS", "127.0.0.1", server.port,
                 "+sd", study_set.folder)
        moved = {
            "DEST": _receive(dcmtk_net, received, "DEST", dest_port, server.port,
                             study_set.synthetic_study),
            "DEST-again": _receive(dcmtk_net, received, "DEST", dest_port, server.port,
                                   study_set.synthetic_study),
            "PLAIN": _receive(dcmtk_net, received, "PLAIN", plain_port, server.port,
                              study_set.synthetic_study)}
        got = folder / "got"
        got.mkdir()
        run_tool("getscu", "-S", "-aet", "GETTER", "-aec", "PACS", "-od", got, "-k",
                 "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={ct_study}",
                 "127.0.0.1", server.port)
    finally:
        assert server.stop() == 0, server.log_tail()
    audit = [validate(line) for line in audit_file.read_bytes().splitlines()]
    yield Exported(study_set, moved, sorted(got.iterdir()), audit, ct_study)


def _originals(study_set: StudySet) -> dict[str, Dataset]:
    return {i.sop: dicomkit.read(str(i.path)) for i in study_set.instances}


def _assert_table_holds(out: Dataset, original: Dataset, options: frozenset[str]) -> int:
    """Every attribute of Table E.1-1 present in the original, checked at the top level
    against the action the table gives for ``options``; returns how many were checked."""
    keys = Keys(KEY)
    checked = 0
    for row in table.rows():
        if "x" in row.tag or row.tag == table.PRIVATE:
            continue
        tag = int(row.tag, 16)
        if tag >> 16 in (0x0000, 0x0002) or tag not in original:
            continue
        before, after = original[tag], out.get(tag)
        action = row.action(options)
        label = f"{row.tag} {row.name} ({action})"
        checked += 1
        if action == "K":
            continue
        if action == "X":
            assert after is None, label
        elif action == "U":
            assert after is not None and after.value == keys.uid(str(before.value)), label
        elif action == "S":  # modified dates: dates shifted, times kept (E.3.6)
            if before.VR in ("DA", "DT") and before.value:
                assert after is not None and after.value != before.value, label
        elif before.VR != "SQ" and before.value not in (None, "", []):
            # D, Z, C, the dates shifted, the combined codes: gone or not the original
            assert after is None or after.value != before.value, label
    for element in out:
        assert element.tag >> 16 & 1 == 0, f"private {element.tag:08X} survived"
    return checked


def _check_copies(files: list[Path], originals: dict[str, Dataset],
                  options: frozenset[str]) -> set[str]:
    keys = Keys(KEY)
    by_new = {keys.uid(sop): sop for sop in originals}
    sent = set()
    for path in files:
        out = dicomkit.read(str(path))
        sop = str(out.SOPInstanceUID)
        assert sop in by_new, f"{path.name}: {sop} is not a keyed UID of a stored instance"
        original = originals[by_new[sop]]
        assert _assert_table_holds(out, original, options) > 10
        assert out.PatientIdentityRemoved == "YES"
        assert str(out.PatientID) != str(original.PatientID)
        assert "PatientBirthDate" not in out or not out.PatientBirthDate
        assert out.get("PixelData") is not None
        sent.add(sop)
    return sent


def test_a_move_to_a_deid_peer_sends_deidentified_copies(exported: Exported) -> None:
    s = exported.study_set
    originals = _originals(s)
    files = exported.moved["DEST"]
    assert len(files) == len(s.sops_of(s.synthetic_study))
    sent = _check_copies(files, originals, frozenset())
    assert sent == {Keys(KEY).uid(sop) for sop in s.sops_of(s.synthetic_study)}
    patients = {str(dicomkit.read(str(p)).PatientID) for p in files}
    assert len(patients) == 1  # one patient, one pseudonym


def test_the_same_key_gives_the_same_copies_every_time(exported: Exported) -> None:
    def identity(path: Path) -> tuple[str, ...]:
        ds = dicomkit.read(str(path))
        return (str(ds.SOPInstanceUID), str(ds.StudyInstanceUID), str(ds.PatientID),
                str(ds.PatientName))

    first = sorted(identity(p) for p in exported.moved["DEST"])
    assert first == sorted(identity(p) for p in exported.moved["DEST-again"])
    # and the same as dicomkit deid with the key
    from dicomkit.deid import deidentify

    expected = []
    for instance in exported.study_set.instances:
        if instance.study == exported.study_set.synthetic_study:
            out, _ = deidentify(dicomkit.read(str(instance.path)), key=KEY)
            expected.append((str(out.SOPInstanceUID), str(out.StudyInstanceUID),
                             str(out.PatientID), str(out.PatientName)))
    assert first == sorted(expected)


def test_a_plain_peer_gets_the_stored_instances(exported: Exported) -> None:
    s = exported.study_set
    got = {str(dicomkit.read(str(p)).SOPInstanceUID) for p in exported.moved["PLAIN"]}
    assert got == s.sops_of(s.synthetic_study)


def test_a_get_by_a_deid_peer_is_deidentified_with_its_options(exported: Exported) -> None:
    s = exported.study_set
    originals = _originals(s)
    assert len(exported.got) == len(s.sops_of(exported.ct_study))
    _check_copies(exported.got, originals, GET_OPTIONS)
    for path in exported.got:
        out = dicomkit.read(str(path))
        assert out.LongitudinalTemporalInformationModified == "MODIFIED"
        assert "113107" in [i.CodeValue for i in out.DeidentificationMethodCodeSequence]


def test_the_audit_trail_names_the_original_and_says_deidentified(exported: Exported) -> None:
    def event(document: Any) -> str:
        return str(document.find("EventIdentification/EventID").get("csd-code"))

    def users(document: Any) -> set[str]:
        return {p.get("UserID") for p in document.findall("ActiveParticipant")}

    def patient(document: Any) -> set[str]:
        return {o.get("ParticipantObjectID") for o in document.findall(
            "ParticipantObjectIdentification") if o.get("ParticipantObjectTypeCodeRole") == "1"}

    s = exported.study_set
    original_patient = str(dicomkit.read(str(next(
        i.path for i in s.instances if i.study == s.synthetic_study))).PatientID)
    for receiver in ("DEST", "GETTER", "PLAIN"):
        done = [d for d in exported.audit if event(d) == "110104" and receiver in users(d)]
        assert done, receiver
        for document in done:
            assert patient(document), receiver  # the stored patient was found
            note = document.findtext("EventIdentification/EventOutcomeDescription") or ""
            if receiver == "PLAIN":
                assert "de-identified" not in note
            else:
                assert "de-identified copies" in note, receiver
    dest = [d for d in exported.audit if event(d) == "110104" and "DEST" in users(d)]
    assert all(patient(d) == {original_patient} for d in dest)


def _settings(tmp_path: Path, argv: list[str], config: str | None = None) -> dict[str, Any]:
    import argparse

    from dicomkit.cli import archive

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    archive.add_parser(sub)
    if config is not None:
        path = tmp_path / "serve.toml"
        path.write_text(config)
        argv = ["--config", str(path), *argv]
    return archive.load_settings(parser.parse_args(["serve", *argv]))


def test_deid_peer_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DICOMKIT_DEID_KEY", raising=False)
    assert _settings(tmp_path, [])["deid_peers"] == {}
    with pytest.raises(SystemExit, match="need a key"):
        _settings(tmp_path, ["--deid-peer", "RESEARCH"])
    monkeypatch.setenv("DICOMKIT_DEID_KEY", "k")
    settings = _settings(tmp_path, ["--deid-peer", "A=clean-descriptors,retain-uids"],
                         config='deid_peers = { B = ["retain-longitudinal-full-dates"] }\n')
    assert settings["deid_peers"] == {"A": ["clean-descriptors", "retain-uids"],
                                      "B": ["retain-longitudinal-full-dates"]}
    assert settings["deid_key"] == "k"
    assert _settings(tmp_path, [], config='deid_peers = ["C"]\n')["deid_peers"] == {"C": []}
    with pytest.raises(SystemExit, match="unknown de-identification option"):
        _settings(tmp_path, ["--deid-peer", "A=retain-everything"])
    with pytest.raises(SystemExit, match="deid_peers is a list"):
        _settings(tmp_path, [], config='deid_peers = "A"\n')
    key = tmp_path / "key"
    key.write_text("from-file\n")
    assert _settings(tmp_path, ["--deid-key-file", str(key)])["deid_key"] == "from-file"
    with pytest.raises(SystemExit, match="deid_key_file"):
        _settings(tmp_path, ["--deid-key-file", str(tmp_path / "missing")])
