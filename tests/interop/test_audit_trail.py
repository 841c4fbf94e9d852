"""``dicomkit serve`` with its audit trail (PS3.15 A.5, IHE ATNA) sent to a UDP syslog receiver,
a TCP one and a TLS one (a self-signed certificate made here) and to a file, on both index
back ends. Real peers make the events: DCMTK storescu, findscu, movescu (to a storescp), getscu
and echoscu (refused: unknown calling AE, wrong called AE), httpx for QIDO-RS, WADO-RS, STOW-RS
with good and bad credentials, and ``dicomkit rm``. Every message must be valid against the
A.5.1 schema and name the right participants and objects."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.audit import (
    StreamReceiver,
    UdpReceiver,
    tls_receiver,
    validate,
    wait_until,
)
from tests.support.databases import Backend
from tests.support.datasets import StudySet
from tests.support.dcmtk import background, run_tool
from tests.support.servers import ServeFactory, free_port, serve_env, wait_for_port
from tests.support.web import stow

AUTH = ("reader", "s3cret")
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"


@dataclass
class Trail:
    """What the archive reported, as parsed messages, per channel."""

    study_set: StudySet
    by_channel: dict[str, list[Any]]
    moved_study: str
    deleted_study: str
    stowed_study: str
    stowed_sops: set[str]

    @property
    def file(self) -> list[Any]:
        return self.by_channel["file"]

    def events(self, code: str, channel: str = "file") -> list[Any]:
        return [d for d in self.by_channel[channel]
                if d.find("EventIdentification/EventID").get("csd-code") == code]


def event_type(document: Any) -> str | None:
    element = document.find("EventIdentification/EventTypeCode")
    return None if element is None else element.get("csd-code")


def participants(document: Any) -> dict[str, Any]:
    return {p.get("UserID"): p for p in document.findall("ActiveParticipant")}


def role_of(document: Any, user: str) -> str | None:
    role = participants(document)[user].find("RoleIDCode")
    return None if role is None else role.get("csd-code")


def studies_in(document: Any) -> dict[str, dict[str, int]]:
    return {o.get("ParticipantObjectID"): {
        s.get("UID"): int(s.get("NumberOfInstances"))
        for s in o.findall("ParticipantObjectDescription/SOPClass")}
        for o in document.findall("ParticipantObjectIdentification")
        if o.find("ParticipantObjectIDTypeCode").get("csd-code") == "110180"}


def patients_in(document: Any) -> set[str]:
    return {o.get("ParticipantObjectID") for o in document.findall(
        "ParticipantObjectIdentification") if o.get("ParticipantObjectTypeCodeRole") == "1"}


def expected_counts(study_set: StudySet, study: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for i in study_set.instances:
        if i.study == study:
            counts[i.sop_class] = counts.get(i.sop_class, 0) + 1
    return counts


@pytest.fixture(scope="module")
def trail(backend: Backend, module_serve: ServeFactory, study_set: StudySet,
          dcmtk_net: dict[str, str], tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Trail]:
    folder = tmp_path_factory.mktemp(f"audit-{backend.name}")
    udp, tcp = UdpReceiver(), StreamReceiver()
    tls, cert = tls_receiver(folder)
    audit_file = folder / "audit.log"
    data, index = folder / "data", backend.new_index()
    dest_port, http_port = free_port(), free_port()
    audit_args = ["--audit-syslog", udp.url, "--audit-syslog", tcp.url,
                  "--audit-syslog", tls.url, "--audit-tls-ca", str(cert),
                  "--audit-file", str(audit_file)]
    server = module_serve(data, index=index, peers={"DEST": dest_port}, args=[
        "--http-port", str(http_port), "--no-fsync", "--http-user", ":".join(AUTH),
        *[a for aet in ("MODALITY1", "FINDER", "MOVER", "GETTER") for a in ("--accept-aet", aet)],
        *audit_args])
    wait_for_port(http_port, server.proc, describe=server.describe)
    root = f"http://127.0.0.1:{http_port}/dicom-web"
    s = study_set
    ct_study, mr_study = s.study_of("CT_small.dcm"), s.study_of("MR_small.dcm")
    try:
        run_tool("storescu", "-aet", "MODALITY1", "-aec", "PACS", "127.0.0.1", server.port,
                 "+sd", s.folder)
        run_tool("findscu", "-S", "-aet", "FINDER", "-aec", "PACS", "-k",
                 "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID", "-k", "PatientID=DK-*",
                 "127.0.0.1", server.port)
        out = folder / "dest"
        out.mkdir()
        dest = background([dcmtk_net["storescp"], "-aet", "DEST", "-od", out, dest_port],
                          folder / "storescp.log")
        try:
            wait_for_port(dest_port, dest.proc, describe=dest.log)
            run_tool("movescu", "-S", "-aet", "MOVER", "-aec", "PACS", "-aem", "DEST", "-k",
                     "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={s.synthetic_study}",
                     "127.0.0.1", server.port)
        finally:
            dest.stop()
        got = folder / "got"
        got.mkdir()
        run_tool("getscu", "-S", "-aet", "GETTER", "-aec", "PACS", "-od", got, "-k",
                 "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={ct_study}",
                 "127.0.0.1", server.port)
        refused = run_tool("echoscu", "-aet", "INTRUDER", "-aec", "PACS", "127.0.0.1",
                           server.port, check=False)
        assert refused.returncode != 0
        refused = run_tool("echoscu", "-aet", "MODALITY1", "-aec", "NOTPACS", "127.0.0.1",
                           server.port, check=False)
        assert refused.returncode != 0
        with httpx.Client(base_url=root, timeout=30) as http:
            assert http.get("/studies", params={"PatientID": "DK-SERVE-1"},
                            auth=AUTH).status_code == 200
            assert http.get(f"/studies/{mr_study}/metadata", auth=AUTH).status_code == 200
            assert http.get("/studies", auth=("reader", "wrong")).status_code == 401
        from tests.support.datasets import pydicom_file
        from tests.support.web import STOWED

        stowed_paths = [pydicom_file(name) for name in STOWED]
        response = stow(root.replace("://", f"://{AUTH[0]}:{AUTH[1]}@"), stowed_paths)
        assert response.status_code == 200, response.text
        from tests.support.datasets import describe_instance

        stowed = [describe_instance(p) for p in stowed_paths]
    finally:
        assert server.stop() == 0, server.log_tail()
    rm = subprocess.run(
        [sys.executable, "-m", "dicomkit.cli.main", "rm", "--data", str(data),
         *(["--index", index] if index else []), "--study", mr_study, *audit_args],
        capture_output=True, text=True, env=serve_env(), timeout=120, check=False)
    assert rm.returncode == 0, rm.stdout + rm.stderr
    try:
        lines = audit_file.read_bytes().splitlines()
        by_channel = {"file": [validate(line) for line in lines]}
        for name, receiver in (("udp", udp), ("tcp", tcp), ("tls", tls)):
            wait_until(lambda r=receiver: len(r.frames) >= len(lines),
                       f"{len(lines)} messages over {name}")
            by_channel[name] = [validate(m.xml) for m in receiver.messages()]
        assert not tcp.errors and not tls.errors
        yield Trail(s, by_channel, s.synthetic_study, mr_study,
                    stowed[0].study, {i.sop for i in stowed})
    finally:
        for receiver in (udp, tcp, tls):
            receiver.close()


def test_every_channel_got_every_message(trail: Trail) -> None:
    def summary(documents: list[Any]) -> list[tuple[str, str | None]]:
        return sorted((d.find("EventIdentification/EventID").get("csd-code"), event_type(d))
                      for d in documents)

    for channel in ("udp", "tcp", "tls"):
        assert summary(trail.by_channel[channel]) == summary(trail.file), channel


def test_application_start_and_stop(trail: Trail) -> None:
    types = [event_type(d) for d in trail.events("110100")]
    assert types == ["110120", "110121"]
    start = trail.events("110100")[0]
    assert role_of(start, "PACS") == "110150"


def test_store_is_instances_transferred_create_per_patient(trail: Trail) -> None:
    s = trail.study_set
    stores = [d for d in trail.events("110104")
              if "MODALITY1" in participants(d)]
    assert {d.find("EventIdentification").get("EventActionCode") for d in stores} == {"C"}
    found: dict[str, dict[str, int]] = {}
    for document in stores:
        assert role_of(document, "MODALITY1") == "110153"  # source
        assert role_of(document, "PACS") == "110152"  # destination
        source = participants(document)["MODALITY1"]
        assert source.get("UserIsRequestor") == "true"
        assert source.get("NetworkAccessPointID") == "127.0.0.1"
        assert len(patients_in(document)) == 1  # A.5.3.7: a single patient per message
        found.update(studies_in(document))
    assert found == {study: expected_counts(s, study) for study in s.studies}


def test_find_is_a_query_with_the_identifier(trail: Trail) -> None:
    queries = [d for d in trail.events("110112") if "FINDER" in participants(d)]
    assert len(queries) == 1
    query = queries[0]
    assert role_of(query, "FINDER") == "110153"
    assert role_of(query, "PACS") == "110152"
    item = query.find("ParticipantObjectIdentification")
    assert item.get("ParticipantObjectID") == STUDY_ROOT_FIND
    identifier = base64.b64decode(item.findtext("ParticipantObjectQuery"))
    assert b"STUDY" in identifier and b"DK-*" in identifier
    assert item.find("ParticipantObjectDetail").get("type") == "TransferSyntax"


def test_move_begins_and_ends_with_the_destination_and_the_requestor(trail: Trail) -> None:
    expected = {trail.moved_study: expected_counts(trail.study_set, trail.moved_study)}
    begin = [d for d in trail.events("110102") if "DEST" in participants(d)]
    assert len(begin) == 1
    assert studies_in(begin[0]) == expected
    assert role_of(begin[0], "PACS") == "110153" and role_of(begin[0], "DEST") == "110152"
    assert participants(begin[0])["MOVER"].get("UserIsRequestor") == "true"
    done = [d for d in trail.events("110104") if "DEST" in participants(d)]
    assert len(done) == 1
    assert done[0].find("EventIdentification").get("EventActionCode") == "R"
    assert done[0].find("EventIdentification").get("EventOutcomeIndicator") == "0"
    assert studies_in(done[0]) == expected
    assert patients_in(done[0]) == {"DK-SERVE-1"}


def test_get_sends_to_the_requestor(trail: Trail) -> None:
    ct = trail.study_set.study_of("CT_small.dcm")
    done = [d for d in trail.events("110104") if "GETTER" in participants(d)]
    assert len(done) == 1
    assert role_of(done[0], "GETTER") == "110152"
    assert studies_in(done[0]) == {ct: expected_counts(trail.study_set, ct)}
    assert [d for d in trail.events("110102") if "GETTER" in participants(d)]


def test_rejected_associations_are_node_authentication_alerts(trail: Trail) -> None:
    alerts = [d for d in trail.events("110113") if event_type(d) == "110126"]
    by_caller = {next(iter(set(participants(d)) - {"PACS", "?"})): d for d in alerts}
    assert set(by_caller) == {"INTRUDER", "MODALITY1"}
    for document in alerts:
        assert document.find("EventIdentification").get("EventOutcomeIndicator") == "4"
    assert "calling-AE-title-not-recognized" in by_caller["INTRUDER"].findtext(
        "EventIdentification/EventOutcomeDescription")
    assert "called-AE-title-not-recognized" in by_caller["MODALITY1"].findtext(
        "EventIdentification/EventOutcomeDescription")


def test_associations_are_sessions(trail: Trail) -> None:
    starts = [d for d in trail.events("110113") if event_type(d) == "110145"]
    stops = [d for d in trail.events("110113") if event_type(d) == "110146"]
    callers = {"MODALITY1", "FINDER", "MOVER", "GETTER"}
    assert callers <= {u for d in starts for u in participants(d)}
    assert len(starts) == len(stops)


def test_qido_is_a_query_of_the_uri(trail: Trail) -> None:
    queries = [d for d in trail.events("110112") if "reader" in participants(d)]
    assert len(queries) == 1
    item = queries[0].find("ParticipantObjectIdentification")
    assert item.get("ParticipantObjectID").endswith("/dicom-web/studies")
    assert base64.b64decode(item.findtext("ParticipantObjectQuery")) == b"PatientID=DK-SERVE-1"
    reader = participants(queries[0])["reader"]
    assert reader.get("NetworkAccessPointID") == "127.0.0.1"


def test_wado_is_instances_transferred_to_the_user(trail: Trail) -> None:
    sent = [d for d in trail.events("110104") if "reader" in participants(d)
            and d.find("EventIdentification").get("EventActionCode") == "R"]
    assert len(sent) == 1
    assert role_of(sent[0], "reader") == "110152"
    assert studies_in(sent[0]) == {trail.deleted_study: expected_counts(
        trail.study_set, trail.deleted_study)}


def test_stow_is_instances_transferred_create_from_the_user(trail: Trail) -> None:
    stored = [d for d in trail.events("110104") if "reader" in participants(d)
              and d.find("EventIdentification").get("EventActionCode") == "C"]
    assert stored
    assert role_of(stored[0], "reader") == "110153"
    assert sum(sum(c.values()) for d in stored for c in studies_in(d).values()) == len(
        trail.stowed_sops)


def test_logins_are_user_authentication(trail: Trail) -> None:
    logins = trail.events("110114")
    outcomes = sorted((d.find("ActiveParticipant").get("UserID"),
                       d.find("EventIdentification").get("EventOutcomeIndicator"))
                      for d in logins)
    # one success although four requests carried the credentials (once per user and
    # address), one failure for the wrong password
    assert outcomes == [("reader", "0"), ("reader", "4")]
    failed = next(d for d in logins
                  if d.find("EventIdentification").get("EventOutcomeIndicator") == "4")
    assert "credentials refused" in failed.findtext("EventIdentification/EventOutcomeDescription")
    alerts = [d for d in trail.events("110113") if event_type(d) == "110143"]
    assert len(alerts) == 1


def test_rm_is_study_deleted(trail: Trail) -> None:
    deleted = trail.events("110105")
    assert len(deleted) == 1
    assert deleted[0].find("EventIdentification").get("EventActionCode") == "D"
    assert studies_in(deleted[0]) == {trail.deleted_study: expected_counts(
        trail.study_set, trail.deleted_study)}
    actor = deleted[0].find("ActiveParticipant")
    assert actor.get("UserIsRequestor") == "true"
    assert actor.get("UserName")


def test_config_file_keys_drive_the_trail(backend: Backend, study_set: StudySet,
                                          tmp_path: Path) -> None:
    """The TOML keys (a single syslog address may be a string) configure ``rm``'s trail like
    the options: the import is silent, the deletion of a series is DICOM Instances Accessed
    with action D (A.5.3.6)."""
    receiver = StreamReceiver()
    audit_file = tmp_path / "audit.log"
    index = backend.new_index()
    config = tmp_path / "dicomkit.toml"
    config.write_text(f'data = "{tmp_path / "data"}"\n'
                      + (f'index = "{index}"\n' if index else "")
                      + f'audit_syslog = "{receiver.url}"\n'
                      + f'audit_file = "{audit_file}"\naudit_file_format = "syslog"\n'
                      + 'audit_source_id = "SITE-PACS-1"\n')
    ct = next(i for i in study_set.instances if i.path.name == "CT_small.dcm")

    def dicomkit(*args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-m", "dicomkit.cli.main", *args],
                                capture_output=True, text=True, env=serve_env(), timeout=120,
                                check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    try:
        dicomkit("import", "--config", str(config), str(ct.path))
        dicomkit("rm", "--config", str(config), "--series", ct.series)
        lines = audit_file.read_bytes().splitlines()
        assert len(lines) == 1
        from tests.support.audit import parse_syslog

        line = parse_syslog(lines[0])
        assert (line.facility, line.msgid) == (10, "IHE+RFC-3881")
        wait_until(lambda: receiver.frames, "the message over TCP")
        for xml in (line.xml, receiver.messages()[0].xml):
            document = validate(xml)
            event = document.find("EventIdentification")
            assert event.find("EventID").get("csd-code") == "110103"
            assert event.get("EventActionCode") == "D"
            assert document.find("AuditSourceIdentification").get(
                "AuditSourceID") == "SITE-PACS-1"
            assert studies_in(document) == {ct.study: {ct.sop_class: 1}}
            assert patients_in(document) == {ct.patient_id}
    finally:
        receiver.close()


def test_requests_refused_by_ae_permissions_are_authorization_alerts(
        backend: Backend, serve: ServeFactory, study_set: StudySet, dcmtk_net: dict[str, str],
        tmp_path: Path) -> None:
    """A C-STORE and a C-FIND that the calling AE's permissions do not cover are refused 0124
    and reported as Security Alerts (Authorization Decision 110144, outcome 4); an allowed
    C-FIND is a Query only."""
    audit_file = tmp_path / "audit.log"
    config = tmp_path / "pacs.toml"
    config.write_text(f'audit_file = "{audit_file}"\n[ae.READER]\npermissions = ["query"]\n'
                      '[ae.WRITER]\npermissions = ["store"]\n')
    server = serve(tmp_path / "data", index=backend.new_index(),
                   args=["--config", str(config), "--no-http"])
    ct = next(i for i in study_set.instances if i.path.name == "CT_small.dcm")
    run_tool("storescu", "-aet", "READER", "-aec", "PACS", "127.0.0.1", server.port, ct.path,
             check=False)  # refused 0124: checked in the trail below
    run_tool("findscu", "-S", "-aet", "WRITER", "-aec", "PACS", "-k",
             "QueryRetrieveLevel=STUDY", "127.0.0.1", server.port, check=False)
    run_tool("findscu", "-S", "-aet", "READER", "-aec", "PACS", "-k",
             "QueryRetrieveLevel=STUDY", "127.0.0.1", server.port)
    assert server.stop() == 0
    documents = [validate(line) for line in audit_file.read_bytes().splitlines()]
    alerts = [d for d in documents if event_type(d) == "110144"]
    assert sorted(next(u for u in participants(d) if u != "PACS") for d in alerts) == [
        "READER", "WRITER"]
    for alert in alerts:
        event = alert.find("EventIdentification")
        assert event.get("EventOutcomeIndicator") == "4"
        assert "0124" in event.findtext("EventOutcomeDescription")
    assert not [d for d in documents if d.find("EventIdentification/EventID").get(
        "csd-code") == "110104"]  # nothing was stored


def test_a_receiver_that_is_down_never_breaks_the_service(
        backend: Backend, serve: ServeFactory, study_set: StudySet, dcmtk_net: dict[str, str],
        tmp_path: Path) -> None:
    """Audit receivers that are not there (TCP refused, TLS refused): every C-STORE and the
    C-FIND still succeed, the file still gets every message, and the log says once per
    receiver that messages are dropped."""
    dead_tcp, dead_tls = free_port(), free_port()
    audit_file = tmp_path / "audit.log"
    server = serve(tmp_path / "data", index=backend.new_index(), args=[
        "--no-http", "--audit-syslog", f"tcp://127.0.0.1:{dead_tcp}",
        "--audit-syslog", f"tls://127.0.0.1:{dead_tls}", "--audit-file", str(audit_file)])
    result = run_tool("storescu", "-v", "-aec", "PACS", "127.0.0.1", server.port, "+sd",
                      study_set.folder)
    output = result.stdout + result.stderr
    assert output.count("Received Store Response (Success)") == len(study_set.instances)
    run_tool("findscu", "-S", "-aec", "PACS", "-k", "QueryRetrieveLevel=STUDY",
             "127.0.0.1", server.port)
    assert server.stop() == 0, server.log_tail()
    events = [validate(line).find("EventIdentification/EventID").get("csd-code")
              for line in audit_file.read_bytes().splitlines()]
    assert {"110100", "110104", "110112"} <= set(events)
    log = server.log()
    for port in (dead_tcp, dead_tls):
        assert log.count(f"audit: cannot send to {'tcp' if port == dead_tcp else 'tls'}://"
                         f"127.0.0.1:{port}") == 1, log[-3000:]
