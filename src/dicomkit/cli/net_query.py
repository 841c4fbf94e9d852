"""``dicomkit find | move | get``: the C-FIND, C-MOVE and C-GET requestors (PS3.4 Annexes C
and K), like DCMTK's findscu, movescu and getscu."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from dicomkit.cli.net import (
    MAX_CONTEXTS,
    NATIVE_TS,
    Progress,
    UsageError,
    add_client_options,
    ae_title,
    associate,
    command_parser,
    error,
    log,
    log_accepted,
    run,
    status_text,
    uid_name,
)
from dicomkit.cli.query_keys import build_query, format_table, json_list, with_level
from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import uid_for_keyword

# What a C-GET requestor offers to receive compressed data in: the peer picks one per context.
COMPRESSED_TS_KEYWORDS = ("JPEGBaseline8Bit", "JPEGExtended12Bit", "JPEGLosslessSV1",
                          "JPEGLossless", "JPEGLSLossless", "JPEGLSNearLossless",
                          "JPEG2000Lossless", "JPEG2000", "RLELossless")
# The storage SOP classes a C-GET proposes by default (two contexts each; PS3.8 allows 128).
GET_SOP_CLASS_KEYWORDS = (
    "CTImageStorage", "EnhancedCTImageStorage", "MRImageStorage", "EnhancedMRImageStorage",
    "ComputedRadiographyImageStorage", "DigitalXRayImageStorageForPresentation",
    "DigitalXRayImageStorageForProcessing", "DigitalMammographyXRayImageStorageForPresentation",
    "UltrasoundImageStorage", "UltrasoundMultiFrameImageStorage", "SecondaryCaptureImageStorage",
    "MultiFrameGrayscaleByteSecondaryCaptureImageStorage",
    "MultiFrameGrayscaleWordSecondaryCaptureImageStorage",
    "MultiFrameTrueColorSecondaryCaptureImageStorage", "XRayAngiographicImageStorage",
    "XRayRadiofluoroscopicImageStorage", "EnhancedXAImageStorage", "NuclearMedicineImageStorage",
    "PositronEmissionTomographyImageStorage", "EnhancedPETImageStorage", "RTImageStorage",
    "RTDoseStorage", "RTStructureSetStorage", "RTPlanStorage", "RTIonPlanStorage",
    "BasicTextSRStorage", "EnhancedSRStorage", "ComprehensiveSRStorage",
    "KeyObjectSelectionDocumentStorage", "GrayscaleSoftcopyPresentationStateStorage",
    "EncapsulatedPDFStorage", "SegmentationStorage", "VLPhotographicImageStorage",
    "TwelveLeadECGWaveformStorage", "BreastTomosynthesisImageStorage",
)


# -- registration ----------------------------------------------------------------------------
def add_parser(sub: Any) -> None:
    _add_find(sub)
    _add_move(sub)
    _add_get(sub)


def _keys(p: argparse.ArgumentParser, models: Sequence[str]) -> None:
    p.add_argument("-k", dest="keys", action="append", default=[], metavar="KEY[=VALUE]",
                   help="a matching key (Keyword=Value, (gggg,eeee)=Value, "
                        "Sequence[0].Keyword=Value) or, without '=', a return key")
    group = p.add_mutually_exclusive_group()
    for model in models:
        group.add_argument(f"--{model}", dest="model", action="store_const", const=model,
                           help=f"{model} {'root ' if model != 'worklist' else ''}"
                                "information model" + (" (default)" if model == "study" else ""))
    p.set_defaults(model="study")


def _add_find(sub: Any) -> None:
    p = command_parser(sub, "find", "query a peer with C-FIND (PS3.4 Annex C, K)", """\
  dicomkit find pacs 104 -k PatientName='Doe*' -k PatientID -k StudyDate
  dicomkit find pacs 104 -k QueryRetrieveLevel=SERIES -k StudyInstanceUID=1.2.3 \\
      -k SeriesInstanceUID -k Modality
  dicomkit find pacs 104 --patient -k QueryRetrieveLevel=PATIENT -k '(0010,0020)=X*'
  dicomkit find ris 104 --worklist -k ScheduledProcedureStepSequence[0].Modality=CT \\
      -k PatientName --json
""")
    add_client_options(p)
    _keys(p, ("study", "patient", "worklist"))
    p.add_argument("--json", action="store_true", help="print the matches as a DICOM JSON list")
    p.set_defaults(run=lambda args: run(args, _find))


def _add_move(sub: Any) -> None:
    p = command_parser(sub, "move",
                       "have a peer send instances to an AE with C-MOVE (PS3.4 C.4.2)", """\
  dicomkit move pacs 104 --aec PACS --dest WORKSTATION -k StudyInstanceUID=1.2.3
  dicomkit move pacs 104 --patient --dest ARCHIVE2 -k QueryRetrieveLevel=PATIENT -k PatientID=42
""")
    add_client_options(p)
    _keys(p, ("study", "patient"))
    p.add_argument("--dest", required=True, metavar="AET", type=ae_title,
                   help="the move destination AE title")
    p.set_defaults(run=lambda args: run(args, _move))


def _add_get(sub: Any) -> None:
    p = command_parser(sub, "get", "retrieve instances over the same association with C-GET "
                                   "(PS3.4 C.4.3)", """\
  dicomkit get pacs 104 --aec PACS -k StudyInstanceUID=1.2.3 --out study/
  dicomkit get pacs 104 -k QueryRetrieveLevel=SERIES -k SeriesInstanceUID=1.2.3.4 \\
      --sop-class 1.2.840.10008.5.1.4.1.1.77.1.6 --out slides/
""")
    add_client_options(p)
    _keys(p, ("study", "patient"))
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the received files")
    p.add_argument("--sop-class", action="append", default=[], metavar="UID",
                   help="also accept this storage SOP class (UID or keyword)")
    p.set_defaults(run=lambda args: run(args, _get))


# -- find ------------------------------------------------------------------------------------
async def _find(args: argparse.Namespace) -> int:
    from dicomkit.net.dimse import Status
    from dicomkit.net.uids import MODELS

    query, columns = build_query(args.keys)
    query = with_level(query, args.model)
    sop_class = MODELS[args.model]["find"]
    matches: list[Dataset] = []
    final = None
    async with associate(args, [(sop_class, NATIVE_TS)]) as client:
        log_accepted(client)
        log.info("sending C-FIND-RQ (%s)", uid_name(sop_class))
        async for status, identifier in client.find(query, args.model):
            log.info("received C-FIND-RSP, status %s", status_text(status))
            if Status.category(status) == "Pending":
                if identifier is not None:
                    matches.append(identifier)
            else:
                final = status
    if args.json:
        print(json_list(matches))
    elif matches and not args.quiet:
        print(format_table(matches, columns or [[(0x00080052, 0)]]))
    if final is None or Status.category(final) not in ("Success", "Warning"):
        error(args, f"C-FIND ended with status {status_text(final or 0xC000)}")
        return 1
    if not args.quiet and sys.stderr.isatty():
        print(f"{len(matches)} match(es)", file=sys.stderr)
    return 0


# -- move and get ----------------------------------------------------------------------------
def _counts(rsp: Dataset) -> tuple[int, int, int, int]:
    def count(keyword: str) -> int:
        return int(rsp.get(keyword) or 0)

    return (count("NumberOfRemainingSuboperations"), count("NumberOfCompletedSuboperations"),
            count("NumberOfFailedSuboperations"), count("NumberOfWarningSuboperations"))


async def _retrieve(args: argparse.Namespace, responses: Any, what: str,
                    progress: Progress) -> tuple[int, tuple[int, int, int, int]]:
    from dicomkit.net.dimse import Status

    status, counts = 0xC000, (0, 0, 0, 0)
    async for rsp in responses:
        status = int(rsp.get("Status") or 0)
        counts = _counts(rsp)
        log.info("received %s-RSP, status %s, remaining %d, completed %d, failed %d, "
                 "warning %d", what, status_text(status), *counts)
        remaining, completed, failed, warning = counts
        progress.total = remaining + completed + failed + warning
        progress.show(completed + failed + warning)
        if Status.category(status) != "Pending":
            break
    progress.clear()
    return status, counts


def _report(args: argparse.Namespace, what: str, status: int,
            counts: tuple[int, int, int, int]) -> int:
    from dicomkit.net.dimse import Status

    remaining, completed, failed, warning = counts
    if not args.quiet:
        print(f"{what}: {completed} completed, {failed} failed, {warning} warning"
              + (f", {remaining} remaining" if remaining else "")
              + f"; status {status_text(status)}")
    ok = Status.category(status) in ("Success", "Warning") and failed == 0
    if not ok:
        error(args, f"{what} ended with status {status_text(status)}, {failed} failed")
    return 0 if ok else 1


async def _move(args: argparse.Namespace) -> int:
    from dicomkit.net.uids import MODELS

    query = with_level(build_query(args.keys)[0], args.model)
    sop_class = MODELS[args.model]["move"]
    progress = Progress(0, not args.quiet and sys.stderr.isatty())
    async with associate(args, [(sop_class, NATIVE_TS)]) as client:
        log_accepted(client)
        log.info("sending C-MOVE-RQ to %s", args.dest)
        status, counts = await _retrieve(args, client.move(query, args.dest, args.model),
                                         "C-MOVE", progress)
    return _report(args, "C-MOVE", status, counts)


def get_contexts(extra: Sequence[str] = ()) -> tuple[list[tuple[str, list[str]]], list[str]]:
    """Storage contexts a C-GET requestor offers (SCP role): per SOP class one native and one
    compressed context, the peer choosing a syntax in each."""
    classes = [uid for uid in (uid_for_keyword(k) for k in GET_SOP_CLASS_KEYWORDS) if uid]
    for item in extra:
        uid = item if item[:1].isdigit() else uid_for_keyword(item)
        if uid is None:
            raise UsageError(f"--sop-class {item}: not a UID or a SOP class keyword")
        if uid not in classes:
            classes.insert(0, uid)
    compressed = [uid for uid in (uid_for_keyword(k) for k in COMPRESSED_TS_KEYWORDS) if uid]
    room = (MAX_CONTEXTS - 1) // 2
    if len(classes) > room:
        raise UsageError(f"{len(classes)} storage SOP classes need more than "
                         f"{MAX_CONTEXTS} presentation contexts")
    contexts = []
    for uid in classes:
        contexts += [(uid, list(NATIVE_TS)), (uid, compressed)]
    return contexts, classes


async def _get(args: argparse.Namespace) -> int:
    from dicomkit.net.dimse import CommandField, Message, response_to
    from dicomkit.net.storage import StoredFile
    from dicomkit.net.uids import MODELS
    from dicomkit.services.storage import StorageHandler

    query = with_level(build_query(args.keys)[0], args.model)
    sop_class = MODELS[args.model]["get"]
    storage, classes = get_contexts(args.sop_class)
    handler = StorageHandler(args.out)
    stored: list[str] = []
    progress = Progress(0, not args.quiet and sys.stderr.isatty())
    async with associate(args, [(sop_class, NATIVE_TS), *storage], scp_roles=classes) as client:
        log_accepted(client)
        association = client.association

        def sink(message: Message, context: Any) -> Any:
            if message.command_field != CommandField.C_STORE_RQ:
                return None
            return handler.store_sink(association, message, context)

        async def on_request(message: Message) -> None:
            if message.command_field != CommandField.C_STORE_RQ:
                await client._on_request(message)
                return
            status = await handler.store(association, message)
            if isinstance(message.data_result, StoredFile) and status == 0:
                stored.append(message.data_result.path)
            log.info("received C-STORE-RQ %s, answered %s",
                     message.command.get("AffectedSOPInstanceUID"), status_text(status))
            await association.send_message(message.context_id, response_to(message, status))

        # Each instance streams straight to its file in --out (no data set in memory).
        association.sink_factory = sink
        association.on_request = on_request
        log.info("sending C-GET-RQ (%s)", uid_name(sop_class))
        status, counts = await _retrieve(args, client.get(query, args.model), "C-GET", progress)
    if not args.quiet:
        print(f"{len(stored)} file(s) stored in {args.out}")
    return _report(args, "C-GET", status, counts)
