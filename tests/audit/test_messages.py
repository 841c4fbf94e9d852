"""PS3.15 A.5: every message dicomkit builds is valid against the A.5.1 schema and carries what
its A.5.3 table makes mandatory (EventID, EventActionCode, EventTypeCode, the participants'
roles and the participant objects)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from dicomkit.audit import messages as m
from tests.support.audit import validate

SOURCE = m.AuditSource("PACS@host")
PACS = m.application_entity("PACS", "127.0.0.1", requestor=False)
MODALITY = m.application_entity("MODALITY1", "10.0.0.5", requestor=True)
CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"
STUDY = m.Study("1.2.3.4", {CT: 3, MR: 1}, ("ACC1",))
PATIENT = m.Patient("PID-1", "Doe^Jane")


def code(element, name):  # noqa: ANN001, ANN201 - lxml elements
    child = element.find(name)
    return child.get("csd-code"), child.get("codeSystemName"), child.get("originalText")


def roles(document) -> list[tuple[str, str]]:  # noqa: ANN001
    return [(p.get("UserID"), p.find("RoleIDCode").get("csd-code"))
            for p in document.findall("ActiveParticipant") if p.find("RoleIDCode") is not None]


def objects(document) -> dict[tuple[str, str], object]:  # noqa: ANN001
    return {(o.get("ParticipantObjectTypeCode"), o.get("ParticipantObjectTypeCodeRole")): o
            for o in document.findall("ParticipantObjectIdentification")}


def check_study_and_patient(document) -> None:  # noqa: ANN001
    """A.5.3.6/7/8 Studies (2, 3, 110180 with SOPClass counts) and Patient (1, 1, RFC-3881 2)."""
    found = objects(document)
    study = found[("2", "3")]
    assert study.get("ParticipantObjectID") == STUDY.uid
    assert code(study, "ParticipantObjectIDTypeCode") == ("110180", "DCM", "Study Instance UID")
    counts = {s.get("UID"): s.get("NumberOfInstances")
              for s in study.findall("ParticipantObjectDescription/SOPClass")}
    assert counts == {CT: "3", MR: "1"}
    assert [a.get("Number") for a in study.findall(
        "ParticipantObjectDescription/Accession")] == ["ACC1"]
    patient = found[("1", "1")]
    assert patient.get("ParticipantObjectID") == "PID-1"
    assert code(patient, "ParticipantObjectIDTypeCode") == ("2", "RFC-3881", "Patient Number")
    assert patient.findtext("ParticipantObjectName") == "Doe^Jane"


def test_event_identification_has_utc_time_with_zone_and_outcome() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    message = m.AuditMessage(m.QUERY, "E", m.MINOR_FAILURE, (PACS,), SOURCE, when=when,
                             outcome_description="refused")
    event = validate(message.to_xml()).find("EventIdentification")
    assert event.get("EventDateTime") == "2026-01-02T03:04:05.678+00:00"
    assert event.get("EventOutcomeIndicator") == "4"
    assert event.findtext("EventOutcomeDescription") == "refused"
    assert code(event, "EventID") == ("110112", "DCM", "Query")


def test_application_activity_start_and_stop() -> None:
    for start, type_code in ((True, "110120"), (False, "110121")):
        document = validate(m.application_activity(SOURCE, PACS, start=start).to_xml())
        event = document.find("EventIdentification")
        assert code(event, "EventID")[0] == "110100"
        assert event.get("EventActionCode") == "E"
        assert code(event, "EventTypeCode")[0] == type_code
        assert roles(document) == [("PACS", "110150")]
        participant = document.find("ActiveParticipant")
        assert participant.get("AlternativeUserID") == "AETITLES=PACS"
        assert participant.get("NetworkAccessPointTypeCode") == "2"


def test_instances_transferred_store_is_create_with_source_and_destination() -> None:
    message = m.instances_transferred(SOURCE, MODALITY, PACS, [STUDY], PATIENT, action="C")
    document = validate(message.to_xml())
    event = document.find("EventIdentification")
    assert code(event, "EventID")[0] == "110104"
    assert event.get("EventActionCode") == "C"
    assert roles(document) == [("MODALITY1", "110153"), ("PACS", "110152")]
    requestor = document.find("ActiveParticipant")
    assert requestor.get("UserIsRequestor") == "true"
    assert requestor.get("NetworkAccessPointID") == "10.0.0.5"
    check_study_and_patient(document)


def test_begin_transferring_lists_the_move_requestor_as_other_participant() -> None:
    other = m.application_entity("WS1", "10.0.0.9", requestor=True)
    document = validate(m.begin_transferring(
        SOURCE, PACS, m.application_entity("STORE", "10.0.0.7", requestor=False), [STUDY],
        PATIENT, others=[other]).to_xml())
    assert code(document.find("EventIdentification"), "EventID")[0] == "110102"
    assert document.find("EventIdentification").get("EventActionCode") == "E"
    assert [p.get("UserID") for p in document.findall("ActiveParticipant")] == [
        "PACS", "STORE", "WS1"]
    check_study_and_patient(document)


def test_dimse_query_holds_the_identifier_base64_and_its_transfer_syntax() -> None:
    identifier = b"\x08\x00\x52\x00\x06\x00\x00\x00STUDY "
    document = validate(m.dimse_query(SOURCE, MODALITY, PACS,
                                      "1.2.840.10008.5.1.4.1.2.2.1", identifier,
                                      "1.2.840.10008.1.2").to_xml())
    assert document.find("EventIdentification").get("EventActionCode") == "E"
    assert roles(document) == [("MODALITY1", "110153"), ("PACS", "110152")]
    query = objects(document)[("2", "3")]
    assert query.get("ParticipantObjectID") == "1.2.840.10008.5.1.4.1.2.2.1"
    assert code(query, "ParticipantObjectIDTypeCode") == ("110181", "DCM", "SOP Class UID")
    assert base64.b64decode(query.findtext("ParticipantObjectQuery")) == identifier
    detail = query.find("ParticipantObjectDetail")
    assert detail.get("type") == "TransferSyntax"
    assert base64.b64decode(detail.get("value")) == b"1.2.840.10008.1.2"


def test_web_query_is_a_uri_with_the_query_string() -> None:
    client = m.ActiveParticipant("reader", True, network_access_point="127.0.0.1")
    document = validate(m.web_query(SOURCE, client, PACS, "http://h/dicom-web/studies",
                                    "PatientID=PID-1&limit=5").to_xml())
    query = objects(document)[("2", "3")]
    assert code(query, "ParticipantObjectIDTypeCode") == ("12", "RFC-3881", "URI")
    assert base64.b64decode(query.findtext("ParticipantObjectQuery")) == \
        b"PatientID=PID-1&limit=5"


def test_study_deleted_and_instances_accessed_delete() -> None:
    actor = m.ActiveParticipant("root", True, user_name="dicomkit rm")
    document = validate(m.study_deleted(SOURCE, actor, STUDY, PATIENT).to_xml())
    assert code(document.find("EventIdentification"), "EventID")[0] == "110105"
    assert document.find("EventIdentification").get("EventActionCode") == "D"
    check_study_and_patient(document)
    document = validate(m.instances_accessed(SOURCE, actor, [STUDY], PATIENT,
                                             action="D").to_xml())
    assert code(document.find("EventIdentification"), "EventID")[0] == "110103"
    assert document.find("EventIdentification").get("EventActionCode") == "D"


def test_security_alert_performers_are_never_requestors() -> None:
    document = validate(m.security_alert(
        SOURCE, PACS, m.NODE_AUTHENTICATION, outcome=m.MINOR_FAILURE,
        description="calling AE title not recognised", performers=[MODALITY]).to_xml())
    event = document.find("EventIdentification")
    assert code(event, "EventID")[0] == "110113"
    assert code(event, "EventTypeCode") == ("110126", "DCM", "Node Authentication")
    assert [p.get("UserIsRequestor") for p in document.findall("ActiveParticipant")] == [
        "false", "false"]


def test_user_authentication_login_failure() -> None:
    user = m.ActiveParticipant("mallory", True, network_access_point="192.0.2.1")
    document = validate(m.user_authentication(SOURCE, user, PACS, outcome=m.MINOR_FAILURE,
                                              description="bad password").to_xml())
    event = document.find("EventIdentification")
    assert code(event, "EventID")[0] == "110114"
    assert code(event, "EventTypeCode")[0] == "110122"
    assert event.get("EventOutcomeIndicator") == "4"


def test_text_is_escaped_not_injected() -> None:
    user = m.ActiveParticipant('<x a="1">&', True)
    document = validate(m.user_authentication(SOURCE, user, None).to_xml())
    assert document.find("ActiveParticipant").get("UserID") == '<x a="1">&'


@pytest.mark.parametrize("broken", [
    # A.5.1: at least one ActiveParticipant
    '<AuditMessage><EventIdentification EventDateTime="2026-01-01T00:00:00Z" '
    'EventOutcomeIndicator="0"><EventID csd-code="110112" codeSystemName="DCM" '
    'originalText="Query"/></EventIdentification><AuditSourceIdentification '
    'AuditSourceID="x"/></AuditMessage>',
    # EventOutcomeIndicator is 0, 4, 8 or 12
    '<AuditMessage><EventIdentification EventDateTime="2026-01-01T00:00:00Z" '
    'EventOutcomeIndicator="1"><EventID csd-code="110112" codeSystemName="DCM" '
    'originalText="Query"/></EventIdentification><ActiveParticipant UserID="a" '
    'UserIsRequestor="true"/><AuditSourceIdentification AuditSourceID="x"/></AuditMessage>',
])
def test_the_schema_check_refuses_what_the_schema_forbids(broken: str) -> None:
    with pytest.raises(AssertionError, match="A.5.1"):
        validate(broken)


def test_web_refusals_are_reported_and_the_answer_is_untouched() -> None:
    """The DICOMweb audit middleware on a bare ASGI app: a 403 is an Authorization Decision
    alert, a 401 a failed login and an Authentication Decision alert; the responses pass
    through unchanged."""
    import asyncio

    from dicomkit.web.audit import HttpAudit

    class Recorder:
        def __init__(self) -> None:
            self.messages: list[m.AuditMessage] = []

        def record(self, message: m.AuditMessage) -> None:
            self.messages.append(message)

        def defer(self, build):  # noqa: ANN001, ANN202
            self.messages += list(build())

    async def app(scope, receive, send) -> None:  # noqa: ANN001
        status = 403 if scope["path"].endswith("forbidden") else 401
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"no"})

    recorder = Recorder()
    audit = HttpAudit(app, recorder, SOURCE, PACS, index=None)  # type: ignore[arg-type]

    async def call(path: str) -> list[dict]:
        sent: list[dict] = []

        async def send(message: dict) -> None:
            sent.append(message)

        async def receive() -> dict:
            return {"type": "http.request", "body": b""}

        scope = {"type": "http", "method": "GET", "path": path, "query_string": b"",
                 "client": ("192.0.2.7", 5000),
                 "headers": [(b"authorization", b"Basic " + base64.b64encode(b"bob:pw"))]}
        await audit(scope, receive, send)
        return sent

    sent = asyncio.run(call("/dicom-web/forbidden"))
    assert [s.get("status") for s in sent] == [403, None] and sent[1]["body"] == b"no"
    asyncio.run(call("/dicom-web/studies"))
    kinds = [(msg.event_id.value, msg.event_types[0].value, msg.outcome)
             for msg in recorder.messages]
    assert kinds == [("110114", "110122", 0),  # bob's credentials accepted (403 is authz)
                     ("110113", "110144", 4),
                     ("110114", "110122", 4), ("110113", "110143", 4)]
    for msg in recorder.messages:
        document = validate(msg.to_xml())
        bob = [p for p in document.findall("ActiveParticipant") if p.get("UserID") == "bob"]
        assert bob and bob[0].get("NetworkAccessPointID") == "192.0.2.7"
