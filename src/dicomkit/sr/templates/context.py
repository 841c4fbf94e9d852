"""Observation context (PS3.16 TID 1001: TID 1002 observer, TID 1003 person and TID 1004
device observer identifying attributes, TID 1006 subject context with TID 1007 patient, TID
1009 specimen, TID 1010 device subjects) and TID 1204 Language of Content Item and
Descendants."""

from __future__ import annotations

from dataclasses import dataclass

import dicomkit.sr.templates.concepts as C
from dicomkit.iod.codes import Code
from dicomkit.sr import ContentItem
from dicomkit.sr.templates.tree import Items, children, codes, optional, required, texts, value
from dicomkit.sr.templates.valuesets import TemplateError, check

OBS = "HAS OBS CONTEXT"
MOD = "HAS CONCEPT MOD"


@dataclass
class Language:
    """TID 1204: the language (BCID 5000, RFC 5646 codes) and optionally its country
    (DCID 5001)."""

    language: Code = C.ENGLISH_US
    country: Code | None = None

    def add_to(self, parent: ContentItem) -> None:
        item = parent.add(MOD, ContentItem.code(C.LANGUAGE_OF_CONTENT, self.language))
        if self.country is not None:
            item.add(MOD, ContentItem.code(C.COUNTRY_OF_LANGUAGE, self.country))

    @classmethod
    def from_parent(cls, parent: ContentItem, where: str) -> Language | None:
        item = optional(parent, C.LANGUAGE_OF_CONTENT, "CODE", where)
        if item is None:
            return None
        return cls(item.value, value(item, C.COUNTRY_OF_LANGUAGE, "CODE", where))


@dataclass
class PersonObserver:
    """TID 1002 with Observer Type Person, and TID 1003's identifying attributes."""

    name: str
    login_name: str | None = None
    organization: str | None = None
    role_in_organization: Code | None = None
    role_in_procedure: Code | None = None

    def add_to(self, parent: ContentItem) -> None:
        where = "TID 1003 Person Observer Identifying Attributes"
        check("person_role_in_organization", self.role_in_organization, where)
        check("person_role_in_procedure", self.role_in_procedure, where)
        parent.add(OBS, ContentItem.code(C.OBSERVER_TYPE, C.PERSON))
        parent.add(OBS, ContentItem.pname(C.PERSON_OBSERVER_NAME, self.name))
        if self.login_name is not None:
            parent.add(OBS, ContentItem.text(C.PERSON_OBSERVER_LOGIN_NAME, self.login_name))
        if self.organization is not None:
            parent.add(OBS, ContentItem.text(C.PERSON_OBSERVER_ORGANIZATION, self.organization))
        if self.role_in_organization is not None:
            parent.add(OBS, ContentItem.code(C.PERSON_OBSERVER_ROLE_IN_ORGANIZATION,
                                             self.role_in_organization))
        if self.role_in_procedure is not None:
            parent.add(OBS, ContentItem.code(C.PERSON_OBSERVER_ROLE_IN_PROCEDURE,
                                             self.role_in_procedure))


@dataclass
class DeviceObserver:
    """TID 1002 with Observer Type Device, and TID 1004's identifying attributes."""

    uid: str
    name: str | None = None
    manufacturer: str | None = None
    model_name: str | None = None
    serial_number: str | None = None
    location: str | None = None
    roles: tuple[Code, ...] = ()

    def add_to(self, parent: ContentItem) -> None:
        for role in self.roles:
            check("device_role_in_procedure", role,
                  "TID 1004 Device Observer Identifying Attributes")
        parent.add(OBS, ContentItem.code(C.OBSERVER_TYPE, C.DEVICE))
        parent.add(OBS, ContentItem.uidref(C.DEVICE_OBSERVER_UID, self.uid))
        for name, text in ((C.DEVICE_OBSERVER_NAME, self.name),
                           (C.DEVICE_OBSERVER_MANUFACTURER, self.manufacturer),
                           (C.DEVICE_OBSERVER_MODEL_NAME, self.model_name),
                           (C.DEVICE_OBSERVER_SERIAL_NUMBER, self.serial_number),
                           (C.DEVICE_OBSERVER_LOCATION, self.location)):
            if text is not None:
                parent.add(OBS, ContentItem.text(name, text))
        for role in self.roles:
            parent.add(OBS, ContentItem.code(C.DEVICE_ROLE_IN_PROCEDURE, role))


Observer = PersonObserver | DeviceObserver


@dataclass
class SubjectContext:
    """TID 1006: the subject class (DCID 271: Patient, Fetus, Specimen, Device Subject) and
    the identifying attributes of TID 1007 (patient: UID, name, ID), TID 1009 (specimen: UID,
    identifier) or TID 1010 (device: name, UID)."""

    subject_class: Code = C.PATIENT
    uid: str | None = None
    name: str | None = None
    identifier: str | None = None

    def add_to(self, parent: ContentItem) -> None:
        where = "TID 1006 Subject Context"
        check("subject_class", self.subject_class, where)
        parent.add(OBS, ContentItem.code(C.SUBJECT_CLASS, self.subject_class))
        uid_name, name_name, id_name = self._concepts()
        if self.uid is not None:
            if uid_name is None:
                raise TemplateError(f"{where}: a {self.subject_class.meaning} has no UID row")
            parent.add(OBS, ContentItem.uidref(uid_name, self.uid))
        if self.name is not None:
            if name_name is None:
                raise TemplateError(f"{where}: a {self.subject_class.meaning} has no name row")
            if self.subject_class == C.DEVICE_SUBJECT:
                parent.add(OBS, ContentItem.text(name_name, self.name))
            else:
                parent.add(OBS, ContentItem.pname(name_name, self.name))
        if self.identifier is not None:
            if id_name is None:
                raise TemplateError(f"{where}: a {self.subject_class.meaning} has no "
                                    "identifier row")
            parent.add(OBS, ContentItem.text(id_name, self.identifier))

    def _concepts(self) -> tuple[Code | None, Code | None, Code | None]:
        """(UID, name, identifier) concept names of the subject class's template."""
        if self.subject_class == C.SPECIMEN:
            return C.SPECIMEN_UID, None, C.SPECIMEN_IDENTIFIER
        if self.subject_class == C.DEVICE_SUBJECT:
            return C.DEVICE_SUBJECT_UID, C.DEVICE_SUBJECT_NAME, None
        if self.subject_class == C.FETUS:
            return None, None, C.SUBJECT_ID
        return C.SUBJECT_UID, C.SUBJECT_NAME, C.SUBJECT_ID


def add_observation_context(parent: ContentItem, observers: list[Observer],
                            subject: SubjectContext | None) -> None:
    """TID 1001: the observers (TID 1002, in order) then the subject (TID 1006)."""
    for observer in observers:
        if not isinstance(observer, (PersonObserver, DeviceObserver)):
            raise TemplateError(f"TID 1002 Observer Context: {observer!r} is not a "
                                "PersonObserver or DeviceObserver")
        observer.add_to(parent)
    if subject is not None:
        subject.add_to(parent)


def read_observation_context(parent: ContentItem, where: str
                             ) -> tuple[list[Observer], SubjectContext | None]:
    """The observers and subject of the HAS OBS CONTEXT children of ``parent``.

    TID 1002 lists an observer as its Observer Type followed by its identifying attributes;
    the attributes belong to the latest Observer Type before them (PS3.16 TID 1001 "an
    observer context is in force until replaced")."""
    observers: list[Observer] = []
    context = [child for child in parent.children if child.relationship == OBS]
    runs: list[tuple[Code, list[ContentItem]]] = []
    subject_items: list[ContentItem] = []
    current: list[ContentItem] | None = None
    for child in context:
        if C.same(child.concept_name, C.OBSERVER_TYPE) and child.value_type == "CODE":
            current = []
            runs.append((child.value, current))
        elif C.same(child.concept_name, C.SUBJECT_CLASS) and child.value_type == "CODE":
            current = subject_items
            subject_items.append(child)
        elif current is not None:
            current.append(child)
    for kind, items in runs:
        holder = items
        here = f"{where} > Observer Context ({kind.meaning})"
        if kind == C.PERSON:
            name = required(holder, C.PERSON_OBSERVER_NAME, "PNAME", here).value
            observers.append(PersonObserver(
                str(name), _one_text(holder, C.PERSON_OBSERVER_LOGIN_NAME),
                _one_text(holder, C.PERSON_OBSERVER_ORGANIZATION),
                value(holder, C.PERSON_OBSERVER_ROLE_IN_ORGANIZATION, "CODE", here),
                value(holder, C.PERSON_OBSERVER_ROLE_IN_PROCEDURE, "CODE", here)))
        elif kind == C.DEVICE:
            uid = required(holder, C.DEVICE_OBSERVER_UID, "UIDREF", here).value
            observers.append(DeviceObserver(
                str(uid), _one_text(holder, C.DEVICE_OBSERVER_NAME),
                _one_text(holder, C.DEVICE_OBSERVER_MANUFACTURER),
                _one_text(holder, C.DEVICE_OBSERVER_MODEL_NAME),
                _one_text(holder, C.DEVICE_OBSERVER_SERIAL_NUMBER),
                _one_text(holder, C.DEVICE_OBSERVER_LOCATION),
                tuple(codes(holder, C.DEVICE_ROLE_IN_PROCEDURE))))
        else:
            raise TemplateError(f"{where}: Observer Type {kind} is not Person or Device "
                                "(DCID 270)")
    subject = None
    if subject_items:
        holder = subject_items
        subject = SubjectContext(subject_items[0].value)
        uid_name, name_name, id_name = subject._concepts()
        here = f"{where} > Subject Context"
        if uid_name is not None:
            found = value(holder, uid_name, "UIDREF", here)
            subject.uid = None if found is None else str(found)
        if name_name is not None:
            name_type = "TEXT" if subject.subject_class == C.DEVICE_SUBJECT else "PNAME"
            found = value(holder, name_name, name_type, here)
            subject.name = None if found is None else str(found)
        if id_name is not None:
            subject.identifier = _one_text(holder, id_name)
    return observers, subject


def _one_text(parent: Items, name: Code) -> str | None:
    found = texts(parent, name)
    return found[0] if found else None


__all__ = ["Language", "PersonObserver", "DeviceObserver", "Observer", "SubjectContext",
           "add_observation_context", "read_observation_context", "children"]
