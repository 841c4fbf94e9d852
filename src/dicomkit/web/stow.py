"""STOW-RS, the Store transaction (PS3.18 §10.5): ``POST /studies[/{study}]`` with
``multipart/related; type="application/dicom"`` (or metadata and bulk data, see
:mod:`dicomkit.web.stow_metadata`).

Each part is held in memory up to SPILL_BYTES, or past that streamed to a temporary file in
the archive as it arrives (a :class:`dicomkit.durable.Spool`) and fsynced. Complete parts are
checked and committed in batches by :meth:`Archive.commit_many`, in a worker thread while the
next parts are received: each file written and fdatasynced, the folders synced once, all their
index rows in one transaction, so a batch of small instances waits for one commit and one WAL
sync instead of one each. A batch is handed over as soon as fewer than BATCHES_AHEAD are being
committed, else parts gather until one is, or until the batch holds BATCH_PARTS parts or
BATCH_BYTES held bytes (so memory stays bounded: at most BATCHES_AHEAD + 1 batches, plus the
part arriving). An instance listed in the ReferencedSOPSequence of the response is on disk and
in the index; a part that fails is in FailedSOPSequence alone, its neighbours stored. The
response (§10.5.3) lists every instance in ReferencedSOPSequence or FailedSOPSequence, in part
order; its status is 200 when all were stored, 202 when some were, 409 when none was.
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

# Batches of parts being committed while the body is read on; a batch is handed over at
# once below this many, else when it is full.
BATCHES_AHEAD = 2
BATCH_PARTS = 16
BATCH_BYTES = 4 * 1024 * 1024  # held (not spilled) bytes of a batch

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


def check_part(archive: Archive, source: str | bytes,
               study: str | None) -> tuple[Outcome, Any]:
    """Read one received file (a temporary file's path, or the part's bytes when it was small
    enough to keep in memory) and check it is a Storage instance of the study asked for: its
    outcome so far (a failure, when it is not) and the data set read (a whole read)."""
    tmp = source if isinstance(source, str) else ""
    try:
        # every header walked: a cut file is refused
        header = read(source, strict=True, max_inflated=archive.max_inflated)
    except InflateLimitError as exc:
        _unlink(tmp)
        return Outcome("", "", OUT_OF_RESOURCES, exc.reason), None
    except (DicomError, OSError, ValueError) as exc:
        _unlink(tmp)
        return Outcome("", "", CANNOT_UNDERSTAND, f"not a DICOM file: {exc}"), None
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
    return outcome, header


def _failed(outcome: Outcome, exc: Exception) -> None:
    """A commit's exception as the part's Failure Reason (PS3.18 §10.5.3.3)."""
    if isinstance(exc, OSError):
        outcome.failure, outcome.reason = OUT_OF_RESOURCES, f"not stored: {exc}"
    elif isinstance(exc, InflateLimitError):  # PS3.4 B.2.3: A700 Refused: Out of Resources
        outcome.failure, outcome.reason = OUT_OF_RESOURCES, exc.reason
    elif isinstance(exc, InstanceInvalid):  # validation policy "reject": A900 (PS3.4 B.2.3)
        outcome.failure, outcome.reason = DATA_SET_DOES_NOT_MATCH, str(exc)
    elif isinstance(exc, DicomError):
        outcome.failure, outcome.reason = CANNOT_UNDERSTAND, str(exc)
    else:  # the index failing is a processing failure
        log.error("STOW-RS: index failure for %s", outcome.sop_instance,
                  exc_info=(type(exc), exc, exc.__traceback__))
        outcome.failure, outcome.reason = PROCESSING_FAILURE, f"index failure: {exc}"


def commit_part(archive: Archive, source: str | bytes, study: str | None) -> Outcome:
    """Check one received file and commit it (runs in a worker thread)."""
    return commit_parts(archive, [source], study)[0]


def commit_parts(archive: Archive, sources: list[str | bytes | Outcome],
                 study: str | None) -> list[Outcome]:
    """Check received files and commit those that pass together (:meth:`Archive.commit_many`,
    in a worker thread); their outcomes in order. An Outcome among ``sources`` (a part that
    failed as it was received) is passed through in its place."""
    outcomes: list[Outcome] = []
    ready: list[tuple[Outcome, str | bytes, Any]] = []
    for source in sources:
        if isinstance(source, Outcome):
            outcomes.append(source)
            continue
        outcome, header = check_part(archive, source, study)
        outcomes.append(outcome)
        if outcome.failure is None:
            # a temporary file is read whole (its values left on disk) when it is committed
            ready.append((outcome, source, header if isinstance(source, bytes) else None))
    if ready:
        done = archive.commit_many([(source, header) for _o, source, header in ready])
        for (outcome, _source, _header), result in zip(ready, done, strict=True):
            if isinstance(result, Exception):
                _failed(outcome, result)
    return outcomes


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
    committed with the parts gathered with it (:func:`commit_parts`); metadata parts kept
    for the end, bulk data parts
    streamed to temporary files they name by Content-Location (PS3.18 §10.5.1.2.2)."""

    def __init__(self, archive: Archive, root: str, study: str | None) -> None:
        self.archive = archive
        self.root = root
        self.study = study
        self.outcomes: list[Outcome] = []
        # batches being committed, in the order of the parts
        self.committing: list[asyncio.Future[list[Outcome]]] = []
        # complete parts not handed over yet (an Outcome: a part that failed already)
        self.pending: list[str | bytes | Outcome] = []
        self.pending_bytes = 0
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
        """A part's outcome decided as it was received: in its place among the others."""
        self.pending.append(outcome)

    async def end_instance(self) -> None:
        """An application/dicom part: held bytes (or the synced temporary file of a spilled
        part) join the batch being gathered, which is handed over for checking and committing
        in a worker thread (:func:`commit_parts`) while the body is read on."""
        spool, self.spool = self.spool, None
        assert spool is not None
        try:
            source = await asyncio.to_thread(spool.finish) if spool.spilled else spool.finish()
        except OSError as exc:
            self._done(Outcome("", "", OUT_OF_RESOURCES, f"not stored: {exc}"))
            return
        self.pending.append(source)
        if isinstance(source, bytes):
            self.pending_bytes += len(source)
        await self.hand_over()

    async def hand_over(self, every: bool = False) -> None:
        """Commit the gathered parts as one batch when fewer than BATCHES_AHEAD batches are
        being committed; else keep gathering until the batch is full (BATCH_PARTS parts or
        BATCH_BYTES held bytes) and then wait for the oldest. ``every``: hand over what is
        gathered now (the body is complete, or broke off)."""
        if not any(isinstance(item, (str, bytes)) for item in self.pending):
            if self.pending:  # failures only: nothing to commit
                self._hand()
            return
        running = [f for f in self.committing if not f.done()]
        full = len(self.pending) >= BATCH_PARTS or self.pending_bytes >= BATCH_BYTES
        if len(running) >= BATCHES_AHEAD:
            if not (full or every):
                return
            if running:
                await asyncio.wait(running[: len(running) - BATCHES_AHEAD + 1])
        self._hand()

    def _hand(self) -> None:
        batch, self.pending, self.pending_bytes = self.pending, [], 0
        if all(isinstance(item, Outcome) for item in batch):
            future: asyncio.Future[list[Outcome]] = asyncio.get_running_loop().create_future()
            future.set_result([item for item in batch if isinstance(item, Outcome)])
            self.committing.append(future)
            return
        self.committing.append(asyncio.ensure_future(
            asyncio.to_thread(commit_parts, self.archive, batch, self.study)))

    async def settle(self) -> None:
        """Hand over what is gathered and wait for every commit begun; their outcomes join
        ``outcomes`` in part order."""
        await self.hand_over(every=True)
        if self.committing:
            await asyncio.wait(self.committing)
        committed, self.committing = self.committing, []
        self.outcomes += [outcome for f in committed for outcome in f.result()]

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
