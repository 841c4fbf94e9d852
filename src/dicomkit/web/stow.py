"""STOW-RS, the Store transaction (PS3.18 §10.5): ``POST /studies[/{study}]`` with
``multipart/related; type="application/dicom"`` (or metadata and bulk data, see
:mod:`dicomkit.web.stow_metadata`).

Each part is held in memory up to SPILL_BYTES and committed with :meth:`Archive.commit_bytes`,
or past that streamed to a temporary file in the archive as it arrives (a
:class:`dicomkit.durable.Spool`), fsynced, and committed with :meth:`Archive.commit_file`: the
same paths a C-STORE takes; an instance listed in the ReferencedSOPSequence of the response is
on disk and in the index. A complete part is committed in a worker thread while the next parts
are received, up to COMMITS_AHEAD commits at once (so memory stays bounded: at most that many
held parts, plus the one arriving); the response waits for all of them. The response (§10.5.3) lists every instance in ReferencedSOPSequence
or FailedSOPSequence; its status is 200 when all were stored, 202 when some were, 409 when none
was.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

import dicomkit.durable as durable
from dicomkit.archive.store import SPILL_BYTES, Archive, InstanceInvalid
from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import storage_sop_classes
from dicomkit.encoding.deflate import InflateLimitError
from dicomkit.encoding.json import to_json
from dicomkit.encoding.reader import read
from dicomkit.encoding.xml import to_xml
from dicomkit.errors import DicomError
from dicomkit.web.context import STORED_INSTANCES, WebContext
from dicomkit.web.errors import WebError, warning_header
from dicomkit.web.media import (
    DICOM,
    DICOM_JSON,
    DICOM_XML,
    MULTIPART,
    MediaRange,
    Part,
    accept_of,
    parse_media_type,
    parts_of,
)
from dicomkit.web.qido import check_uid
from dicomkit.web.stow_metadata import (
    MAX_METADATA_BYTES,
    BulkPart,
    build,
    metadata_objects,
)

log = logging.getLogger("dicomkit.web.stow")

COMMITS_AHEAD = 4  # parts being committed while the body is read on

# Failure Reasons (PS3.18 §10.5.3.3, from the PS3.4 Annex B.2.3 statuses).
PROCESSING_FAILURE = 0x0110
SOP_CLASS_NOT_SUPPORTED = 0x0122
OUT_OF_RESOURCES = 0xA700
DATA_SET_DOES_NOT_MATCH = 0xA900  # Error: Data Set does not match SOP Class (IOD broken)
CANNOT_UNDERSTAND = 0xC000
STUDY_UID_MISMATCH = 0xC409  # the instance belongs to another study than the URL names


@dataclass
class Outcome:
    sop_class: str
    sop_instance: str
    failure: int | None = None
    reason: str = ""
    study: str = ""
    series: str = ""


def _text(value: Any) -> str:
    return str(value or "").strip("\0 ")


def commit_part(archive: Archive, source: str | bytes, study: str | None) -> Outcome:
    """Check one received file (a temporary file's path, or the part's bytes when it was
    small enough to keep in memory) and commit it (runs in a worker thread)."""
    tmp = source if isinstance(source, str) else ""
    try:
        # every header walked: a cut file is refused
        header = read(source, strict=True, max_inflated=archive.max_inflated)
    except InflateLimitError as exc:
        _unlink(tmp)
        return Outcome("", "", OUT_OF_RESOURCES, exc.reason)
    except (DicomError, OSError, ValueError) as exc:
        _unlink(tmp)
        return Outcome("", "", CANNOT_UNDERSTAND, f"not a DICOM file: {exc}")
    meta = header.file_meta
    sop_class = _text(header.get("SOPClassUID") or (meta.get("MediaStorageSOPClassUID")
                                                    if meta is not None else ""))
    sop_instance = _text(header.get("SOPInstanceUID") or (
        meta.get("MediaStorageSOPInstanceUID") if meta is not None else ""))
    outcome = Outcome(sop_class, sop_instance, study=_text(header.get("StudyInstanceUID")),
                      series=_text(header.get("SeriesInstanceUID")))
    if meta is None or "TransferSyntaxUID" not in meta:
        outcome.failure, outcome.reason = CANNOT_UNDERSTAND, \
            "not a PS3.10 file (no File Meta Information with a Transfer Syntax UID)"
    elif sop_class not in _storage_classes():
        outcome.failure, outcome.reason = SOP_CLASS_NOT_SUPPORTED, \
            f"SOP Class {sop_class!r} is not a Storage SOP Class"
    elif study is not None and outcome.study != study:
        outcome.failure, outcome.reason = STUDY_UID_MISMATCH, \
            f"the instance is of study {outcome.study!r}, not {study}"
    if outcome.failure is not None:
        _unlink(tmp)
        return outcome
    try:
        if isinstance(source, bytes):
            archive.commit_bytes(source, header=header)
        else:
            archive.commit_file(tmp)
    except OSError as exc:
        outcome.failure, outcome.reason = OUT_OF_RESOURCES, f"not stored: {exc}"
    except InflateLimitError as exc:  # PS3.4 B.2.3: A700 Refused: Out of Resources
        outcome.failure, outcome.reason = OUT_OF_RESOURCES, exc.reason
    except InstanceInvalid as exc:  # validation policy "reject": A900 (PS3.4 B.2.3)
        outcome.failure, outcome.reason = DATA_SET_DOES_NOT_MATCH, str(exc)
    except DicomError as exc:
        outcome.failure, outcome.reason = CANNOT_UNDERSTAND, str(exc)
    except Exception as exc:  # noqa: BLE001 - the index failing is a processing failure
        log.exception("STOW-RS: index failure for %s", sop_instance)
        outcome.failure, outcome.reason = PROCESSING_FAILURE, f"index failure: {exc}"
    return outcome


async def _from_metadata(archive: Archive, kind: str, text: bytes,
                         bulk: dict[str, BulkPart], study: str | None) -> list[Outcome]:
    """The instances of one metadata part, assembled with their bulk data and committed."""
    try:
        objects = metadata_objects(kind, text)
    except ValueError as exc:
        return [Outcome("", "", CANNOT_UNDERSTAND, f"the metadata is not {kind.upper()}: {exc}")]
    outcomes = []
    for source in objects:
        tmp, ds, reason = await asyncio.to_thread(build, archive, kind, source, bulk)
        if tmp is None:
            uids = (_text(ds.get("SOPClassUID")), _text(ds.get("SOPInstanceUID"))) \
                if ds is not None else ("", "")
            outcomes.append(Outcome(*uids, CANNOT_UNDERSTAND, reason))
            continue
        outcomes.append(await asyncio.to_thread(commit_part, archive, tmp, study))
    return outcomes


def _kind_of(part_type: str, root: str) -> str:
    """What a part is: a PS3.10 file, a metadata document, bulk data, or out of place."""
    if part_type == DICOM:
        return "dicom"
    if root == DICOM:
        return "other"
    if part_type in (DICOM_JSON, "application/json"):
        return "json"
    if part_type in (DICOM_XML, "application/xml"):
        return "xml"
    return "bulk"


_CLASSES: set[str] = set()


def _storage_classes() -> set[str]:
    if not _CLASSES:
        _CLASSES.update(storage_sop_classes())
    return _CLASSES


def _unlink(path: str) -> None:
    if not path:
        return
    try:
        os.unlink(path)
    except OSError:
        pass


def negotiate_response(ranges: list[MediaRange]) -> str:
    for item in ranges:
        if item.media_type in (DICOM_XML, "application/xml"):
            return "xml"
        if item.media_type in (DICOM_JSON, "application/json", "application/*", "*/*"):
            return "json"
    raise WebError(406, "the Store response is application/dicom+json or application/dicom+xml")


def response_dataset(outcomes: list[Outcome], base: str, study: str | None) -> Dataset:
    """PS3.18 Table 10.5.3-2: the Store Instances Response Module."""
    ds = Dataset()
    studies = {o.study for o in outcomes if o.failure is None}
    if study is None and len(studies) == 1:
        study = studies.pop()
    if study:
        ds.RetrieveURL = f"{base}/studies/{study}"
    failed, referenced = [], []
    for outcome in outcomes:
        item = Dataset()
        item.ReferencedSOPClassUID = outcome.sop_class
        item.ReferencedSOPInstanceUID = outcome.sop_instance
        if outcome.failure is not None:
            item.FailureReason = outcome.failure
            failed.append(item)
        else:
            item.RetrieveURL = (f"{base}/studies/{outcome.study}/series/{outcome.series}"
                                f"/instances/{outcome.sop_instance}")
            referenced.append(item)
    if failed:
        ds.FailedSOPSequence = failed
    if referenced:
        ds.ReferencedSOPSequence = referenced
    return ds


class PartReceiver:
    """The parts of one Store request as they arrive (:func:`parts_of` events): each
    application/dicom part held in memory up to SPILL_BYTES and spilled past it to a
    temporary file in the archive (a :class:`dicomkit.durable.Spool`), then checked and
    committed (:func:`commit_part`); metadata parts kept for the end, bulk data parts
    streamed to temporary files they name by Content-Location (PS3.18 §10.5.1.2.2)."""

    def __init__(self, archive: Archive, root: str, study: str | None) -> None:
        self.archive = archive
        self.root = root
        self.study = study
        self.outcomes: list[Outcome] = []
        self.committing: list[asyncio.Future[Outcome]] = []  # in the order of the parts
        self.metadata: list[tuple[str, bytes]] = []
        self.bulk: dict[str, BulkPart] = {}
        self.kind = ""
        self.part_type = ""
        self.part_params: dict[str, str] = {}
        self.location = ""
        self.spool: durable.Spool | None = None  # the application/dicom part being received
        self.bulk_file: durable.TemporaryFile | None = None  # the bulk data part
        self.document = bytearray()  # the metadata part

    async def on(self, event: str, value: object) -> None:
        if event == "part":
            assert isinstance(value, Part)
            await self.begin(value)
        elif event == "data":
            assert isinstance(value, bytes)
            await self.data(value)
        elif event == "end":
            await self.end()

    async def begin(self, part: Part) -> None:
        """A part's headers: what it is, and where its data goes."""
        self.part_type = part.content_type if part.headers.get("content-type") else self.root
        self.part_params = part.params
        self.location = (part.headers.get("content-location")
                         or part.headers.get("content-id", "").strip("<>"))
        self.kind = _kind_of(self.part_type, self.root)
        self.document.clear()
        if self.kind == "dicom":
            self.spool = durable.Spool(self.archive.files_dir, SPILL_BYTES,
                                       fsync=self.archive.fsync)
        elif self.kind == "bulk":
            # Bulk data is read back and rewritten as a file that is synced then.
            self.bulk_file = await asyncio.to_thread(durable.TemporaryFile,
                                                     self.archive.files_dir, fsync=False)

    async def data(self, chunk: bytes) -> None:
        if self.spool is not None:
            if self.spool.spills_with(len(chunk)):  # too big to hold: on to a temporary file
                await asyncio.to_thread(self.spool.write, chunk)
            else:
                self.spool.write(chunk)
        elif self.bulk_file is not None:
            self.bulk_file.write(chunk)
        elif self.kind in ("json", "xml"):
            self.document += chunk
            if len(self.document) > MAX_METADATA_BYTES:
                raise WebError(413, "a metadata part over 64 MiB")

    async def end(self) -> None:
        """A part is complete: an instance is being committed, bulk data and metadata kept."""
        if self.kind in ("json", "xml"):
            self.metadata.append((self.kind, bytes(self.document)))
        elif self.spool is not None:
            await self.end_instance()
        elif self.bulk_file is not None:
            await self.end_bulk()
        else:
            self._done(Outcome("", "", CANNOT_UNDERSTAND, f"a part of type {self.part_type!r} "
                               f"in a request of type {self.root!r}"))

    def _done(self, outcome: Outcome) -> None:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        future.set_result(outcome)
        self.committing.append(future)

    async def end_instance(self) -> None:
        """An application/dicom part: held bytes are checked and committed in one step, with
        the same checks and durability as a spilled file (synced first), in a worker thread
        while the body is read on; past COMMITS_AHEAD running commits, the oldest is waited
        for first."""
        spool, self.spool = self.spool, None
        assert spool is not None
        try:
            source = await asyncio.to_thread(spool.finish) if spool.spilled else spool.finish()
        except OSError as exc:
            self._done(Outcome("", "", OUT_OF_RESOURCES, f"not stored: {exc}"))
            return
        running = [f for f in self.committing if not f.done()]
        if len(running) >= COMMITS_AHEAD:
            await asyncio.wait(running[: len(running) - COMMITS_AHEAD + 1])
        self.committing.append(asyncio.ensure_future(
            asyncio.to_thread(commit_part, self.archive, source, self.study)))

    async def settle(self) -> None:
        """Wait for every commit begun; their outcomes join ``outcomes`` in part order."""
        if self.committing:
            await asyncio.wait(self.committing)
        committed, self.committing = self.committing, []
        self.outcomes += [f.result() for f in committed]

    async def end_bulk(self) -> None:
        file, self.bulk_file = self.bulk_file, None
        assert file is not None
        try:
            path = await asyncio.to_thread(file.finish)
        except OSError as exc:
            file.abort()
            self._done(Outcome("", "", OUT_OF_RESOURCES, f"not stored: {exc}"))
            return
        self.bulk[self.location or f"part-{len(self.bulk) + 1}"] = BulkPart(
            path, self.part_type, self.part_params.get("transfer-syntax"))

    async def instances_from_metadata(self) -> None:
        """Once the body is complete and its parts committed: the instances the metadata
        parts describe."""
        await self.settle()
        for kind, text in self.metadata:
            self.outcomes += await _from_metadata(self.archive, kind, text, self.bulk,
                                                  self.study)

    def close(self) -> None:
        """Drop what a part cut short left, and the bulk data files."""
        if self.spool is not None:
            self.spool.abort()
        if self.bulk_file is not None:
            self.bulk_file.abort()
        for part in self.bulk.values():
            _unlink(part.path)


def _request_type(request: Request) -> tuple[str, str]:
    """The root type of the parts and the boundary of a Store request (PS3.18 §10.5.1.1)."""
    kind, params = parse_media_type(request.headers.get("content-type", ""))
    if kind != MULTIPART:
        raise WebError(415, f"STOW-RS takes multipart/related; type=\"application/dicom\", "
                       f"not {kind or 'a body without Content-Type'}")
    root = params.get("type", DICOM).lower()
    if root not in (DICOM, DICOM_JSON, DICOM_XML):
        raise WebError(415, f"STOW-RS takes parts of type application/dicom, "
                       f"application/dicom+json or application/dicom+xml, not {root!r}")
    boundary = params.get("boundary", "")
    if not boundary:
        raise WebError(400, "multipart/related without a boundary parameter")
    return root, boundary


def _response(request: Request, outcomes: list[Outcome], answer: str, base: str,
              study: str | None) -> Response:
    """PS3.18 §10.5.3: 200 when every instance was stored, 202 when some were, 409 when none
    was; the failures logged and summed up in a Warning header."""
    if not outcomes:
        raise WebError(400, "the request holds no instance")
    failures = [o for o in outcomes if o.failure is not None]
    request.scope[STORED_INSTANCES] = [o.sop_instance for o in outcomes if o.failure is None]
    for outcome in failures:
        log.warning("STOW-RS: %s not stored (%04X): %s", outcome.sop_instance or "a part",
                    outcome.failure, outcome.reason)
    ds = response_dataset(outcomes, base, study)
    status = 200 if not failures else 409 if len(failures) == len(outcomes) else 202
    headers = {}
    if failures:
        headers["Warning"] = warning_header("; ".join(
            f"{o.sop_instance or 'a part'}: {o.reason}" for o in failures[:5]))
    if answer == "xml":
        return Response(to_xml(ds), status_code=status, headers=headers, media_type=DICOM_XML)
    return Response(to_json(ds), status_code=status, headers=headers, media_type=DICOM_JSON)


async def store(request: Request) -> Response:
    """``POST /studies[/{study}]``: every part received and committed as it ends, then the
    instances of the metadata parts, then the response."""
    ctx: WebContext = request.app.state.dicomweb
    study = request.path_params.get("study")
    if study is not None:
        check_uid(study, "Study Instance UID")
    root, boundary = _request_type(request)
    answer = negotiate_response(accept_of(request.headers.get("accept"),
                                          request.query_params.get("accept")))
    receiver = PartReceiver(ctx.archive, root, study)
    try:
        async for event, value in parts_of(request.stream(), boundary):
            await receiver.on(event, value)
        await receiver.instances_from_metadata()
    finally:
        try:
            await receiver.settle()  # a broken body: the parts before it are committed
        finally:
            receiver.close()
    return _response(request, receiver.outcomes, answer, ctx.base(request), study)
