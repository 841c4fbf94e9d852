"""DICOMweb requests as PS3.15 A.5.3 audit messages: an ASGI middleware that watches each
request and its response status (it changes neither).

============================================  ===============================================
request                                       message
============================================  ===============================================
answered 401 (no or bad credentials)          A.5.3.12 User Authentication, Login, outcome 4
                                              and A.5.3.11 Security Alert, Authentication
                                              Decision, outcome 4
credentials accepted (first time in a while   A.5.3.12 User Authentication, Login, outcome 0
for this user and address)
answered 403 (e.g. a token without the        A.5.3.11 Security Alert, Authorization Decision,
scope)                                        outcome 4
QIDO-RS search                                A.5.3.10 Query: the URI and its query string
WADO-RS, WADO-URI (any successful GET of      A.5.3.7 Instances Transferred (R), the client
study, series or instance data)               as destination
STOW-RS                                       A.5.3.7 Instances Transferred (C), the client
                                              as source (the UIDs stow.py leaves in the
                                              scope under ``STORED_INSTANCES``)
DELETE of a study                             A.5.3.8 DICOM Study Deleted, per study, the
                                              client as the actor
DELETE of a series or an instance             A.5.3.6 DICOM Instances Accessed (D) (both from
                                              what manage.py leaves under ``DELETED``)
============================================  ===============================================
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dicomkit.archive.index import ArchiveIndex
from dicomkit.archive.matching import compile_query
from dicomkit.audit import Auditor
from dicomkit.audit import messages as m
from dicomkit.core.dataset import Dataset
from dicomkit.core.element import DataElement
from dicomkit.web.context import DELETED, ROOT, STORED_INSTANCES

LOGIN_EVERY = 600.0  # seconds between two successful-login messages of one user and address
SEARCH = re.compile(rf"^{ROOT}(?:/studies/[^/]+(?:/series/[^/]+)?)?/(studies|series|instances)/?$")
RETRIEVE = re.compile(rf"^{ROOT}/studies/([^/]+)(?:/series/([^/]+)(?:/instances/([^/]+))?)?"
                      r"(?:/.*)?$")


@dataclass(frozen=True)
class WebAudit:
    """What :func:`~dicomkit.web.app.create_app` needs to audit: where messages go, the
    audit source, and this service as a participant (its UserID and address)."""

    auditor: Auditor
    source: m.AuditSource
    service: m.ActiveParticipant


class HttpAudit:
    def __init__(self, app: ASGIApp, auditor: Auditor, source: m.AuditSource,
                 service: m.ActiveParticipant, index: ArchiveIndex) -> None:
        self.app = app
        self.auditor = auditor
        self.source = source
        self.service = service  # this archive's web service, as a participant
        self.index = index
        self.logins: dict[tuple[str, str], float] = {}
        self.lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = [0]

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            self.report(scope, status[0])

    # -- who asked ---------------------------------------------------------------------------
    @staticmethod
    def user_of(scope: Scope) -> tuple[str | None, str]:
        """The user the credentials name (None: none given) and the client's address."""
        client = scope.get("client")
        address = str(client[0]) if client else "?"
        header = ""
        for key, value in scope.get("headers", []):
            if key.lower() == b"authorization":
                header = value.decode("latin-1")
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() == "basic":
            try:
                return base64.b64decode(credentials.strip()).decode("utf-8").partition(":")[0], \
                    address
            except (ValueError, UnicodeDecodeError):
                return "(unreadable basic credentials)", address
        if scheme.lower() == "bearer":
            return _token_subject(credentials.strip()), address
        return (scheme or None), address

    def requestor(self, scope: Scope) -> m.ActiveParticipant:
        user, address = self.user_of(scope)
        return m.ActiveParticipant(user or address, True, network_access_point=address)

    # -- the report ----------------------------------------------------------------------------
    def report(self, scope: Scope, status: int) -> None:
        if not status:
            return
        method, path = scope.get("method", ""), scope.get("path", "")
        user, address = self.user_of(scope)
        if status == 401:
            self.refused(scope, user, address)
            return
        if user is not None:
            self.logged_in(user, address)
        if status == 403:
            self.forbidden(scope, user, address)
            return
        if method == "GET" and SEARCH.match(path):
            self.auditor.record(m.web_query(
                self.source, self.requestor(scope), self.service, _url(scope),
                scope.get("query_string", b"").decode("latin-1"),
                outcome=m.SUCCESS if status < 400 else m.MINOR_FAILURE))
        elif method == "GET" and status < 400 and (match := RETRIEVE.match(path)):
            self.transferred(scope, *match.groups())
        elif method == "GET" and status < 400 and path in ("/wado", ROOT + "/wado"):
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            study = (query.get("studyUID") or [None])[0]
            if study:
                self.transferred(scope, study, (query.get("seriesUID") or [None])[0],
                                 (query.get("objectUID") or [None])[0])
        elif method == "POST" and scope.get(STORED_INSTANCES):
            uids = list(scope[STORED_INSTANCES])
            sender = self.requestor(scope)

            def stored() -> Iterable[m.AuditMessage]:
                for patient, studies in m.by_patient(self.index.audit_summary(sop_uids=uids)):
                    yield m.instances_transferred(self.source, sender, self.service, studies,
                                                  patient, action="C")

            self.auditor.defer(stored)
        elif method == "DELETE" and status < 400 and scope.get(DELETED):
            level, summary = scope[DELETED]
            actor = self.requestor(scope)
            for patient, studies in m.by_patient(summary):
                if level == "STUDY":
                    for study in studies:
                        self.auditor.record(m.study_deleted(self.source, actor, study, patient))
                else:
                    self.auditor.record(m.instances_accessed(self.source, actor, studies,
                                                             patient, action="D"))

    def refused(self, scope: Scope, user: str | None, address: str) -> None:
        who = m.ActiveParticipant(user or address, True, network_access_point=address)
        reason = ("credentials refused" if user is not None else "no credentials") + \
            f" for {scope.get('method')} {scope.get('path')}"
        self.auditor.record(m.user_authentication(self.source, who, self.service,
                                                  outcome=m.MINOR_FAILURE, description=reason))
        self.auditor.record(m.security_alert(
            self.source, self.service, m.AUTHENTICATION_DECISION, outcome=m.MINOR_FAILURE,
            description=reason, performers=[who]))

    def forbidden(self, scope: Scope, user: str | None, address: str) -> None:
        who = m.ActiveParticipant(user or address, True, network_access_point=address)
        self.auditor.record(m.security_alert(
            self.source, self.service, m.AUTHORIZATION_DECISION, outcome=m.MINOR_FAILURE,
            description=f"{scope.get('method')} {scope.get('path')} refused (403)",
            performers=[who]))

    def logged_in(self, user: str, address: str) -> None:
        now = time.monotonic()
        with self.lock:
            last = self.logins.get((user, address))
            if last is not None and now - last < LOGIN_EVERY:
                return
            if len(self.logins) > 10000:
                self.logins.clear()
            self.logins[(user, address)] = now
        who = m.ActiveParticipant(user, True, network_access_point=address)
        self.auditor.record(m.user_authentication(self.source, who, self.service))

    def transferred(self, scope: Scope, study: str, series: str | None,
                    instance: str | None) -> None:
        identifier = Dataset()
        identifier.QueryRetrieveLevel = "IMAGE"
        for tag, uid in ((0x0020000D, study), (0x0020000E, series), (0x00080018, instance)):
            if uid:
                identifier[tag] = DataElement(tag, "UI", uid)
        where = compile_query(identifier, "study").where
        receiver = self.requestor(scope)

        def build() -> Iterable[m.AuditMessage]:
            for patient, studies in m.by_patient(self.index.audit_summary(where=where)):
                yield m.instances_transferred(self.source, self.service, receiver, studies,
                                              patient, action="R")

        self.auditor.defer(build)


def _url(scope: Scope) -> str:
    host = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"), "")
    return f"{scope.get('scheme', 'http')}://{host}{scope.get('path', '')}"


def _token_subject(token: str) -> str:
    """A JWT's ``sub`` claim (read after the token was accepted, for naming only), else a
    token's short fingerprint: never the token itself."""
    parts = token.split(".")
    if len(parts) == 3:
        try:
            padded = parts[1] + "=" * (-len(parts[1]) % 4)
            claims: Any = json.loads(base64.urlsafe_b64decode(padded))
            if isinstance(claims, dict) and claims.get("sub"):
                return str(claims["sub"])
        except (ValueError, UnicodeDecodeError):
            pass
    import hashlib

    return "bearer:" + hashlib.sha256(token.encode("utf-8")).hexdigest()[:12]
