"""PS3.15 A.5: DICOM audit messages (the IHE ATNA audit record format).

An :class:`AuditMessage` is the A.5.1 schema's ``AuditMessage`` element as data: the event
(EventID, EventActionCode, EventDateTime, EventOutcomeIndicator, EventTypeCode), its active
participants, the audit source and the participant objects. :meth:`AuditMessage.to_xml` writes
it in the schema's element order (one line, UTF-8, no namespace). The functions below build the
A.5.3 specialisations that dicomkit reports, each with the fields its table in A.5.3 makes
mandatory; the codes are CID 400-404 of PS3.16 (DCM coding scheme).
"""

from __future__ import annotations

import base64
import ipaddress
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Code:
    """A coded value: ``csd-code``, ``codeSystemName`` and ``originalText`` (A.5.1)."""

    value: str
    meaning: str
    scheme: str = "DCM"


# PS3.16 CID 400 Audit Event ID
APPLICATION_ACTIVITY = Code("110100", "Application Activity")
BEGIN_TRANSFERRING = Code("110102", "Begin Transferring DICOM Instances")
INSTANCES_ACCESSED = Code("110103", "DICOM Instances Accessed")
INSTANCES_TRANSFERRED = Code("110104", "DICOM Instances Transferred")
STUDY_DELETED = Code("110105", "DICOM Study Deleted")
QUERY = Code("110112", "Query")
SECURITY_ALERT = Code("110113", "Security Alert")
USER_AUTHENTICATION = Code("110114", "User Authentication")
# CID 401 Audit Event Type Code / CID 403 Security Alert Type Code
APPLICATION_START = Code("110120", "Application Start")
APPLICATION_STOP = Code("110121", "Application Stop")
LOGIN = Code("110122", "Login")
LOGOUT = Code("110123", "Logout")
NODE_AUTHENTICATION = Code("110126", "Node Authentication")
AUTHENTICATION_DECISION = Code("110143", "Authentication Decision")
AUTHORIZATION_DECISION = Code("110144", "Authorization Decision")
SESSION_START = Code("110145", "Session start")
SESSION_STOP = Code("110146", "Session stop")
# CID 402 Audit Active Participant Role ID Code
APPLICATION = Code("110150", "Application")
APPLICATION_LAUNCHER = Code("110151", "Application Launcher")
DESTINATION = Code("110152", "Destination Role ID")
SOURCE = Code("110153", "Source Role ID")
# CID 404 Audit Participant Object ID Type Code, and A.5.1.2.4's RFC-3881 values
STUDY_INSTANCE_UID = Code("110180", "Study Instance UID")
SOP_CLASS_UID = Code("110181", "SOP Class UID")
PATIENT_NUMBER = Code("2", "Patient Number", "RFC-3881")
URI = Code("12", "URI", "RFC-3881")

# EventOutcomeIndicator (A.5.1)
SUCCESS, MINOR_FAILURE, SERIOUS_FAILURE, MAJOR_FAILURE = 0, 4, 8, 12
# ParticipantObjectTypeCode and ParticipantObjectTypeCodeRole (A.5.1.2.2)
PERSON, SYSTEM_OBJECT = "1", "2"
ROLE_PATIENT, ROLE_REPORT, ROLE_SECURITY_RESOURCE = "1", "3", "13"
# AuditSourceTypeCode (A.5.1.2.1): application server process tier
APPLICATION_SERVER = "4"


@dataclass(frozen=True)
class ActiveParticipant:
    """A.5.2: a user, process or node taking part. ``network_access_point`` is an IP address
    (NetworkAccessPointTypeCode 2) or a host name (1)."""

    user_id: str
    is_requestor: bool
    roles: tuple[Code, ...] = ()
    alternative_user_id: str | None = None
    user_name: str | None = None
    network_access_point: str | None = None


def application_entity(ae_title: str, host: str | None, *, requestor: bool,
                       roles: tuple[Code, ...] = (), user_name: str | None = None
                       ) -> ActiveParticipant:
    """A DICOM application (A.5.2.1, A.5.2.2): UserID is its AE title, AlternativeUserID
    ``AETITLES=`` the same, the network access point its address."""
    ae = ae_title.strip() or "?"
    return ActiveParticipant(ae, requestor, roles, f"AETITLES={ae}", user_name, host)


@dataclass(frozen=True)
class Study:
    """A study taking part: its UID, instance count per SOP class (A.5.2 SOPClass,
    NumberOfInstances) and accession numbers."""

    uid: str
    sop_classes: dict[str, int] = field(default_factory=dict)
    accession_numbers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Patient:
    id: str
    name: str | None = None


@dataclass(frozen=True)
class ParticipantObject:
    """A.5.1 ParticipantObjectIdentification."""

    object_id: str
    id_type: Code
    type_code: str | None = None
    role: str | None = None
    name: str | None = None
    query: bytes | None = None
    details: tuple[tuple[str, bytes], ...] = ()
    sop_classes: tuple[tuple[str, int], ...] = ()
    accession_numbers: tuple[str, ...] = ()
    life_cycle: str | None = None


@dataclass(frozen=True)
class AuditSource:
    """A.5.2 AuditSourceIdentification: who detected the event and wrote this message."""

    source_id: str
    enterprise_site_id: str | None = None
    type_code: str = APPLICATION_SERVER


@dataclass(frozen=True)
class AuditMessage:
    event_id: Code
    action: str | None
    outcome: int
    participants: tuple[ActiveParticipant, ...]
    source: AuditSource
    objects: tuple[ParticipantObject, ...] = ()
    event_types: tuple[Code, ...] = ()
    outcome_description: str | None = None
    when: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def failed(self) -> bool:
        return self.outcome != SUCCESS

    def to_element(self) -> ET.Element:
        root = ET.Element("AuditMessage")
        event = ET.SubElement(root, "EventIdentification")
        if self.action is not None:
            event.set("EventActionCode", self.action)
        event.set("EventDateTime", _datetime(self.when))
        event.set("EventOutcomeIndicator", str(self.outcome))
        _code(ET.SubElement(event, "EventID"), self.event_id)
        for code in self.event_types:
            _code(ET.SubElement(event, "EventTypeCode"), code)
        if self.outcome_description:
            ET.SubElement(event, "EventOutcomeDescription").text = self.outcome_description
        for participant in self.participants:
            _participant(root, participant)
        source = ET.SubElement(root, "AuditSourceIdentification",
                               AuditSourceID=self.source.source_id)
        if self.source.enterprise_site_id:
            source.set("AuditEnterpriseSiteID", self.source.enterprise_site_id)
        ET.SubElement(source, "AuditSourceTypeCode", {"csd-code": self.source.type_code})
        for item in self.objects:
            _object(root, item)
        return root

    def to_xml(self) -> str:
        """The message as one line of XML (no declaration: syslog and files add none). Line
        breaks in text become character references, so a file holds one message per line."""
        text = ET.tostring(self.to_element(), encoding="unicode")
        return text.replace("\r", "&#13;").replace("\n", "&#10;")


def _datetime(when: datetime) -> str:
    """A.5.2.5: an xsd:dateTime with its time zone."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.isoformat(timespec="milliseconds")


def _code(element: ET.Element, code: Code) -> None:
    element.set("csd-code", code.value)
    element.set("codeSystemName", code.scheme)
    element.set("originalText", code.meaning)


def _access_point_type(address: str) -> str:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return "1"  # machine name
    return "2"  # IP address


def _participant(root: ET.Element, p: ActiveParticipant) -> None:
    element = ET.SubElement(root, "ActiveParticipant", UserID=p.user_id,
                            UserIsRequestor="true" if p.is_requestor else "false")
    if p.alternative_user_id:
        element.set("AlternativeUserID", p.alternative_user_id)
    if p.user_name:
        element.set("UserName", p.user_name)
    if p.network_access_point:
        element.set("NetworkAccessPointID", p.network_access_point)
        element.set("NetworkAccessPointTypeCode", _access_point_type(p.network_access_point))
    for role in p.roles:
        _code(ET.SubElement(element, "RoleIDCode"), role)


def _object(root: ET.Element, o: ParticipantObject) -> None:
    element = ET.SubElement(root, "ParticipantObjectIdentification",
                            ParticipantObjectID=o.object_id)
    if o.type_code:
        element.set("ParticipantObjectTypeCode", o.type_code)
    if o.role:
        element.set("ParticipantObjectTypeCodeRole", o.role)
    if o.life_cycle:
        element.set("ParticipantObjectDataLifeCycle", o.life_cycle)
    _code(ET.SubElement(element, "ParticipantObjectIDTypeCode"), o.id_type)
    if o.name is not None:
        ET.SubElement(element, "ParticipantObjectName").text = o.name
    elif o.query is not None:
        ET.SubElement(element, "ParticipantObjectQuery").text = _b64(o.query)
    for kind, value in o.details:
        ET.SubElement(element, "ParticipantObjectDetail", type=kind, value=_b64(value))
    if o.sop_classes or o.accession_numbers:
        description = ET.SubElement(element, "ParticipantObjectDescription")
        for number in o.accession_numbers:
            ET.SubElement(description, "Accession", Number=number)
        for uid, count in o.sop_classes:
            ET.SubElement(description, "SOPClass", UID=uid, NumberOfInstances=str(count))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# -- participant objects of A.5.3 -----------------------------------------------------------------
def study_object(study: Study) -> ParticipantObject:
    """A.5.3.3/6/7/8 "Studies": system object, role report, Study Instance UID; SOPClass with
    NumberOfInstances (required by Table A.5.2-1 when any optional field is given)."""
    return ParticipantObject(study.uid, STUDY_INSTANCE_UID, SYSTEM_OBJECT, ROLE_REPORT,
                             sop_classes=tuple(sorted(study.sop_classes.items())),
                             accession_numbers=tuple(a for a in study.accession_numbers if a))


def patient_object(patient: Patient) -> ParticipantObject:
    """A.5.3.x "Patient": person, role patient, ID type (2, RFC-3881, "Patient Number")."""
    return ParticipantObject(patient.id, PATIENT_NUMBER, PERSON, ROLE_PATIENT,
                             name=patient.name or None)


def _studies_and_patient(studies: Iterable[Study], patient: Patient | None
                         ) -> tuple[ParticipantObject, ...]:
    objects = [study_object(s) for s in studies]
    if patient is not None:
        objects.append(patient_object(patient))
    return tuple(objects)


def by_patient(rows: Iterable[Mapping[str, Any]]) -> list[tuple[Patient, list[Study]]]:
    """Rows of ``patient_id``, ``patient_name``, ``study_uid``, ``accession_number``,
    ``sop_class`` and ``count`` (an index's summary) as patients and their studies: A.5.3.3
    and A.5.3.7 messages each hold a single patient."""
    grouped: dict[tuple[str, str], dict[str, tuple[dict[str, int], set[str]]]] = {}
    for row in rows:
        patient = (str(row.get("patient_id") or ""), str(row.get("patient_name") or ""))
        studies = grouped.setdefault(patient, {})
        counts, accessions = studies.setdefault(str(row["study_uid"]), ({}, set()))
        sop_class = str(row.get("sop_class") or "")
        counts[sop_class] = counts.get(sop_class, 0) + int(row.get("count") or 0)
        if row.get("accession_number"):
            accessions.add(str(row["accession_number"]))
    return [(Patient(pid, name or None),
             [Study(uid, counts, tuple(sorted(accessions)))
              for uid, (counts, accessions) in studies.items()])
            for (pid, name), studies in grouped.items()]


# -- the A.5.3 messages ---------------------------------------------------------------------------
def application_activity(source: AuditSource, application: ActiveParticipant, *,
                         start: bool, launcher: ActiveParticipant | None = None,
                         outcome: int = SUCCESS) -> AuditMessage:
    """A.5.3.1 Application Activity: the application started or stopped (action E)."""
    app = ActiveParticipant(application.user_id, False, (APPLICATION,),
                            application.alternative_user_id, application.user_name,
                            application.network_access_point)
    participants = (app,) if launcher is None else (app, ActiveParticipant(
        launcher.user_id, True, (APPLICATION_LAUNCHER,), launcher.alternative_user_id,
        launcher.user_name, launcher.network_access_point))
    return AuditMessage(APPLICATION_ACTIVITY, "E", outcome, participants, source,
                        event_types=(APPLICATION_START if start else APPLICATION_STOP,))


def _with_role(p: ActiveParticipant, role: Code) -> ActiveParticipant:
    return ActiveParticipant(p.user_id, p.is_requestor, (role,), p.alternative_user_id,
                             p.user_name, p.network_access_point)


def begin_transferring(source: AuditSource, sender: ActiveParticipant,
                       receiver: ActiveParticipant, studies: Sequence[Study],
                       patient: Patient | None, *, others: Sequence[ActiveParticipant] = ()
                       ) -> AuditMessage:
    """A.5.3.3 Begin Transferring DICOM Instances (action E): the sending process (Source Role
    ID), the receiving process (Destination Role ID), others (e.g. the C-MOVE requestor)."""
    return AuditMessage(BEGIN_TRANSFERRING, "E", SUCCESS,
                        (_with_role(sender, SOURCE), _with_role(receiver, DESTINATION),
                         *others), source, _studies_and_patient(studies, patient))


def instances_transferred(source: AuditSource, sender: ActiveParticipant,
                          receiver: ActiveParticipant, studies: Sequence[Study],
                          patient: Patient | None, *, action: str = "R",
                          outcome: int = SUCCESS, description: str | None = None,
                          others: Sequence[ActiveParticipant] = ()) -> AuditMessage:
    """A.5.3.7 DICOM Instances Transferred: C when the receiver did not hold the instances, U
    when it replaced its copies, R when it already held them (or the source is not the
    receiver)."""
    return AuditMessage(INSTANCES_TRANSFERRED, action, outcome,
                        (_with_role(sender, SOURCE), _with_role(receiver, DESTINATION),
                         *others), source, _studies_and_patient(studies, patient),
                        outcome_description=description)


def instances_accessed(source: AuditSource, actor: ActiveParticipant, studies: Sequence[Study],
                       patient: Patient | None, *, action: str, outcome: int = SUCCESS,
                       others: Sequence[ActiveParticipant] = ()) -> AuditMessage:
    """A.5.3.6 DICOM Instances Accessed (C, R, U or D): here the deletion of series or
    instances of a study."""
    return AuditMessage(INSTANCES_ACCESSED, action, outcome, (actor, *others), source,
                        _studies_and_patient(studies, patient))


def study_deleted(source: AuditSource, actor: ActiveParticipant, study: Study,
                  patient: Patient | None, *, outcome: int = SUCCESS,
                  others: Sequence[ActiveParticipant] = ()) -> AuditMessage:
    """A.5.3.8 DICOM Study Deleted (action D): a whole study removed."""
    return AuditMessage(STUDY_DELETED, "D", outcome, (actor, *others), source,
                        _studies_and_patient([study], patient))


def dimse_query(source: AuditSource, requestor: ActiveParticipant,
                responder: ActiveParticipant, sop_class: str, identifier: bytes,
                transfer_syntax: str, *, outcome: int = SUCCESS) -> AuditMessage:
    """A.5.3.10 Query (action E) for a DIMSE C-FIND: the object is the SOP Class queried, its
    ParticipantObjectQuery the identifier as received, the TransferSyntax detail its
    encoding."""
    query = ParticipantObject(sop_class, SOP_CLASS_UID, SYSTEM_OBJECT, ROLE_REPORT,
                              query=identifier,
                              details=(("TransferSyntax", transfer_syntax.encode("ascii")),))
    return AuditMessage(QUERY, "E", outcome, (_with_role(requestor, SOURCE),
                                              _with_role(responder, DESTINATION)),
                        source, (query,))


def web_query(source: AuditSource, requestor: ActiveParticipant, responder: ActiveParticipant,
              url: str, query: str, *, outcome: int = SUCCESS) -> AuditMessage:
    """A.5.3.10 Query for a QIDO-RS search (Note 2: non-DIMSE queries): the object is the
    resource's URI (A.5.1.2.4 type 12), its ParticipantObjectQuery the query string, "in the
    format of the protocol used"."""
    item = ParticipantObject(url, URI, SYSTEM_OBJECT, ROLE_REPORT,
                             query=query.encode("utf-8"))
    return AuditMessage(QUERY, "E", outcome, (_with_role(requestor, SOURCE),
                                              _with_role(responder, DESTINATION)),
                        source, (item,))


def security_alert(source: AuditSource, reporter: ActiveParticipant, alert: Code, *,
                   outcome: int, description: str | None = None,
                   performers: Sequence[ActiveParticipant] = (),
                   subjects: Sequence[ParticipantObject] = ()) -> AuditMessage:
    """A.5.3.11 Security Alert (action E): ``alert`` from CID 403; an outcome of success is an
    informative alert, a failure says how severe. Performing participants are never the
    requestor."""
    others = tuple(ActiveParticipant(p.user_id, False, p.roles, p.alternative_user_id,
                                     p.user_name, p.network_access_point) for p in performers)
    return AuditMessage(SECURITY_ALERT, "E", outcome, (reporter, *others), source,
                        tuple(subjects), event_types=(alert,), outcome_description=description)


def user_authentication(source: AuditSource, user: ActiveParticipant,
                        node: ActiveParticipant | None, *, login: bool = True,
                        outcome: int = SUCCESS, description: str | None = None
                        ) -> AuditMessage:
    """A.5.3.12 User Authentication (action E): a login or logout, successful or not; the
    person authenticated and the node that authenticated it."""
    participants = (user,) if node is None else (user, node)
    return AuditMessage(USER_AUTHENTICATION, "E", outcome, participants, source,
                        event_types=(LOGIN if login else LOGOUT,),
                        outcome_description=description)
