"""``dicomkit echo | store | find | move | get | storescp``: the DICOM network services from the
command line, one command per job like DCMTK's echoscu, storescu, findscu, movescu, getscu and
storescp (PS3.4 Annexes A, B, C over PS3.7 DIMSE and the PS3.8 upper layer).

Exit status, for every command: 0 when everything succeeded, 1 when anything failed (a
connection, an association, a non-success status), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from dicomkit.core import dictionary
from dicomkit.core.dataset import Dataset
from dicomkit.core.tag import Tag
from dicomkit.core.uid import uid_for_keyword, uid_info
from dicomkit.core.vr import VR_INFO
from dicomkit.net.uids import EXPLICIT_VR_LE, IMPLICIT_VR_LE

if TYPE_CHECKING:  # asyncio and ssl are imported when a command runs: every start pays else
    import asyncio
    import ssl

log = logging.getLogger("dicomkit.cli.net")

COMMON_EPILOG = """
common options: --aet (calling AE title, default DICOMKIT), --aec (called AE title, default
ANY-SCP), --timeout SECONDS, -v (association and DIMSE log on stderr; -vv adds PDUs),
--tls with --ca (verify the peer), --cert/--key (our certificate, for mutual authentication).

exit status: 0 all succeeded, 1 any failure, 2 usage error."""

NATIVE_TS = [EXPLICIT_VR_LE, IMPLICIT_VR_LE]  # what uncompressed files are sent in
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
MAX_CONTEXTS = 128  # PS3.8 §9.3.2.2: odd presentation context ids 1-255


class UsageError(Exception):
    """A bad command line found after parsing (exit status 2)."""


# -- registration ----------------------------------------------------------------------------
def add_parser(sub: Any) -> None:
    _add_echo(sub)
    _add_store(sub)
    _add_find(sub)
    _add_move(sub)
    _add_get(sub)
    _add_storescp(sub)


def _parser(sub: Any, name: str, help_: str, examples: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        name, help=help_, description=help_, epilog="examples:\n" + examples + COMMON_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    return p


def ae_title(text: str) -> str:
    """argparse type for AE titles (PS3.5 Table 6.2-1, AE: 1-16 characters, no backslash or
    control characters, not only spaces)."""
    if not 0 < len(text) <= 16 or not text.strip() or "\\" in text or \
            not all(" " <= c <= "~" for c in text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an AE title (1-16 printable ASCII "
                                         "characters, no backslash)")
    return text.strip()


def _security(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tls", action="store_true", help="use TLS (PS3.15 Annex B.1)")
    p.add_argument("--cert", metavar="PEM", help="our certificate (TLS)")
    p.add_argument("--key", metavar="PEM", help="the private key of --cert (TLS)")
    p.add_argument("--ca", metavar="PEM", help="CA certificates to verify the peer with (TLS)")
    p.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="connection, association and DIMSE timeout")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="log associations and DIMSE messages to stderr (-vv: PDUs too)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")


def _client(p: argparse.ArgumentParser) -> None:
    p.add_argument("host", help="the peer's host name or address")
    p.add_argument("port", type=int, help="the peer's TCP port")
    p.add_argument("--aet", default="DICOMKIT", type=ae_title,
                   help="our (calling) AE title [DICOMKIT]")
    p.add_argument("--aec", default="ANY-SCP", type=ae_title,
                   help="the peer's (called) AE title [ANY-SCP]")
    _security(p)


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


def _add_echo(sub: Any) -> None:
    p = _parser(sub, "echo", "verify a DICOM peer with C-ECHO (PS3.7 §9.1.5)", """\
  dicomkit echo pacs.example.org 104 --aec PACS
  dicomkit echo 127.0.0.1 2762 --tls --ca ca.pem      over TLS, verifying the server
""")
    _client(p)
    p.set_defaults(run=lambda args: _run(args, _echo))


def _add_store(sub: Any) -> None:
    p = _parser(sub, "store", "send DICOM files with C-STORE (PS3.4 Annex B)", """\
  dicomkit store pacs 104 --aec PACS image.dcm         one file
  dicomkit store pacs 104 --aec PACS -r study/         a folder and its subfolders
  dicomkit store pacs 104 -q *.dcm && echo all sent    scripts: only errors are printed
""")
    _client(p)
    p.add_argument("paths", nargs="+", metavar="PATH", help="DICOM files or (with -r) folders")
    p.add_argument("-r", "--recursive", action="store_true", help="send folders recursively")
    p.set_defaults(run=lambda args: _run(args, _store))


def _add_find(sub: Any) -> None:
    p = _parser(sub, "find", "query a peer with C-FIND (PS3.4 Annex C, K)", """\
  dicomkit find pacs 104 -k PatientName='Doe*' -k PatientID -k StudyDate
  dicomkit find pacs 104 -k QueryRetrieveLevel=SERIES -k StudyInstanceUID=1.2.3 \\
      -k SeriesInstanceUID -k Modality
  dicomkit find pacs 104 --patient -k QueryRetrieveLevel=PATIENT -k '(0010,0020)=X*'
  dicomkit find ris 104 --worklist -k ScheduledProcedureStepSequence[0].Modality=CT \\
      -k PatientName --json
""")
    _client(p)
    _keys(p, ("study", "patient", "worklist"))
    p.add_argument("--json", action="store_true", help="print the matches as a DICOM JSON list")
    p.set_defaults(run=lambda args: _run(args, _find))


def _add_move(sub: Any) -> None:
    p = _parser(sub, "move", "have a peer send instances to an AE with C-MOVE (PS3.4 C.4.2)",
                """\
  dicomkit move pacs 104 --aec PACS --dest WORKSTATION -k StudyInstanceUID=1.2.3
  dicomkit move pacs 104 --patient --dest ARCHIVE2 -k QueryRetrieveLevel=PATIENT -k PatientID=42
""")
    _client(p)
    _keys(p, ("study", "patient"))
    p.add_argument("--dest", required=True, metavar="AET", type=ae_title,
                   help="the move destination AE title")
    p.set_defaults(run=lambda args: _run(args, _move))


def _add_get(sub: Any) -> None:
    p = _parser(sub, "get", "retrieve instances over the same association with C-GET "
                            "(PS3.4 C.4.3)", """\
  dicomkit get pacs 104 --aec PACS -k StudyInstanceUID=1.2.3 --out study/
  dicomkit get pacs 104 -k QueryRetrieveLevel=SERIES -k SeriesInstanceUID=1.2.3.4 \\
      --sop-class 1.2.840.10008.5.1.4.1.1.77.1.6 --out slides/
""")
    _client(p)
    _keys(p, ("study", "patient"))
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the received files")
    p.add_argument("--sop-class", action="append", default=[], metavar="UID",
                   help="also accept this storage SOP class (UID or keyword)")
    p.set_defaults(run=lambda args: _run(args, _get))


def _add_storescp(sub: Any) -> None:
    p = _parser(sub, "storescp", "receive DICOM instances (a Storage SCP, PS3.4 Annex B)", """\
  dicomkit storescp --port 11112 --out incoming/
  dicomkit storescp --port 0 --out in/ --bind 0.0.0.0     any free port, printed on stderr
  dicomkit storescp --port 2762 --out in/ --tls --cert server.pem --key server.key --ca ca.pem
""")
    p.add_argument("--port", type=int, required=True, help="TCP port to listen on (0: any free)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the received files")
    p.add_argument("--aet", type=ae_title,
                   help="our AE title; when given, other called AE titles are refused")
    p.add_argument("--accept", action="append", metavar="AET", type=ae_title,
                   help="accept only these calling AE titles (repeatable)")
    p.add_argument("--bind", default="127.0.0.1", metavar="ADDRESS",
                   help="address to listen on [127.0.0.1]")
    _security(p)
    p.set_defaults(run=lambda args: _run(args, _storescp))


# -- shared plumbing -------------------------------------------------------------------------
def _run(args: argparse.Namespace,
         command: Callable[[argparse.Namespace], Coroutine[Any, Any, int]]) -> int:
    import asyncio

    from dicomkit.errors import DicomError
    from dicomkit.net.association import AssociationError

    _logging(args)
    try:
        return asyncio.run(command(args))
    except UsageError as exc:
        _error(args, str(exc))
        return 2
    except (AssociationError, DicomError, OSError, TimeoutError) as exc:
        _error(args, _describe(exc))
        return 1


def _error(args: argparse.Namespace, message: str) -> None:
    print(f"dicomkit {args.command}: error: {message}", file=sys.stderr)


def _describe(exc: BaseException) -> str:
    import ssl

    if isinstance(exc, ssl.SSLError):
        return f"TLS failure: {exc.reason or exc}"
    if isinstance(exc, TimeoutError) and not str(exc):
        return "timed out"
    return str(exc) or type(exc).__name__


def _logging(args: argparse.Namespace) -> None:
    default = logging.INFO if args.command == "storescp" else logging.WARNING
    level = {0: default, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    if args.quiet:
        level = logging.ERROR
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname).1s: %(message)s"))
    root = logging.getLogger("dicomkit")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def _ssl_context(args: argparse.Namespace, *, server: bool) -> ssl.SSLContext | None:
    """PS3.15 B.1: the server proves itself with --cert/--key; --ca verifies the peer (and
    makes a server require client certificates)."""
    import ssl

    if not args.tls:
        if args.cert or args.key or args.ca:
            raise UsageError("--cert, --key and --ca need --tls")
        return None
    if args.key and not args.cert:
        raise UsageError("--key needs --cert")
    if server:
        if not args.cert:
            raise UsageError("a TLS server needs --cert (and --key)")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
        if args.ca:
            context.load_verify_locations(args.ca)
            context.verify_mode = ssl.CERT_REQUIRED
        return context
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=args.ca)
    if args.cert:
        context.load_cert_chain(args.cert, args.key)
    return context


def _timeouts(args: argparse.Namespace) -> Any:
    from dicomkit.net.association import Timeouts

    if args.timeout is None:
        return Timeouts()
    return Timeouts(artim=args.timeout, dimse=args.timeout, network=args.timeout)


def _connect(args: argparse.Namespace, contexts: Sequence[tuple[str, Sequence[str]]],
             scp_roles: Sequence[str] = ()) -> Any:
    from dicomkit.net.client import connect

    log.info("requesting association %s -> %s at %s:%s (%d presentation contexts)", args.aet,
             args.aec, args.host, args.port, len(contexts))
    return connect(args.host, args.port, calling_aet=args.aet, called_aet=args.aec,
                   contexts=contexts, scp_roles=scp_roles, timeouts=_timeouts(args),
                   ssl_context=_ssl_context(args, server=False))


def _log_accepted(client: Any) -> None:
    contexts = client.contexts
    log.info("association accepted, %d presentation context(s)", len(contexts))
    for context in contexts.values():
        log.debug("  context %d: %s in %s", context.id, _uid_name(context.abstract_syntax),
                  _uid_name(context.transfer_syntax))


def _uid_name(uid: str) -> str:
    info = uid_info(uid)
    return info.name if info is not None else uid


def _status_text(status: int) -> str:
    from dicomkit.net.dimse import Status

    return f"0x{status:04X} ({Status.category(status)})"


class Progress:
    """A one-line progress bar on stderr, redrawn in place; silent unless enabled."""

    def __init__(self, total: int, enabled: bool, stream: TextIO | None = None) -> None:
        self.total = total
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.done = 0
        self.note = ""

    def show(self, done: int | None = None, note: str | None = None) -> None:
        if done is not None:
            self.done = done
        if note is not None:
            self.note = note
        if not self.enabled:
            return
        width = shutil.get_terminal_size((80, 24)).columns
        cells = 24
        filled = cells * self.done // self.total if self.total else cells
        line = f"[{'#' * filled}{'.' * (cells - filled)}] {self.done}/{self.total} {self.note}"
        self.stream.write("\r\x1b[K" + line[: max(width - 1, 10)])
        self.stream.flush()

    def clear(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


# -- echo ------------------------------------------------------------------------------------
async def _echo(args: argparse.Namespace) -> int:
    from dicomkit.net.uids import VERIFICATION

    async with _connect(args, [(VERIFICATION, NATIVE_TS)]) as client:
        _log_accepted(client)
        log.info("sending C-ECHO-RQ")
        status = await client.echo()
        log.info("received C-ECHO-RSP, status %s", _status_text(status))
    if not args.quiet:
        print(f"C-ECHO {args.host}:{args.port} {args.aec}: status {_status_text(status)}")
    return 0 if status == 0 else 1


# -- store -----------------------------------------------------------------------------------
@dataclass
class InstanceFile:
    """A file to send, with what its header says."""

    path: str
    sop_class: str
    sop_instance: str
    transfer_syntax: str


def _walk(paths: Sequence[str], recursive: bool) -> Iterator[str]:
    for path in paths:
        if os.path.isdir(path):
            if not recursive:
                raise UsageError(f"{path} is a folder; use -r to send folders")
            for folder, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    yield os.path.join(folder, name)
        elif os.path.exists(path):
            yield path
        else:
            raise UsageError(f"{path}: no such file or folder")


def _instances(args: argparse.Namespace) -> list[InstanceFile]:
    """Each file's SOP class, instance and transfer syntax from its header; others skipped."""
    from dicomkit.encoding.reader import read

    found = []
    for path in _walk(args.paths, args.recursive):
        try:
            ds = read(path, stop_before_pixels=True, tags=[0x00080016, 0x00080018])
            sop_class = str(ds.get("SOPClassUID") or "").strip("\0 ")
            sop_instance = str(ds.get("SOPInstanceUID") or "").strip("\0 ")
        except Exception as exc:  # noqa: BLE001 - anything unreadable is "not DICOM": skipped
            sop_class = sop_instance = ""
            reason = _describe(exc)
        else:
            reason = "no SOP Class UID / SOP Instance UID"
        if not sop_class or not sop_instance:
            if not args.quiet:
                print(f"dicomkit store: warning: skipping {path}: not a DICOM instance "
                      f"({reason})", file=sys.stderr)
            continue
        ts = ds.transfer_syntax.uid if ds.transfer_syntax is not None else IMPLICIT_VR_LE
        found.append(InstanceFile(path, sop_class, sop_instance, ts))
    return found


def store_contexts(instances: Sequence[InstanceFile]) -> list[list[tuple[str, list[str]]]]:
    """Presentation contexts for the files, split into associations of at most 128: per SOP
    class one context for each compressed syntax found (sent as is) and one for the native
    syntaxes, to which other uncompressed files are converted."""
    from dicomkit.net.uids import UNCOMPRESSED_TS

    per_class: dict[str, list[tuple[str, list[str]]]] = {}
    for instance in instances:
        contexts = per_class.setdefault(instance.sop_class, [])
        ts = instance.transfer_syntax
        if ts not in UNCOMPRESSED_TS and (instance.sop_class, [ts]) not in contexts:
            contexts.append((instance.sop_class, [ts]))
    batches: list[list[tuple[str, list[str]]]] = [[]]
    for sop_class, contexts in per_class.items():
        group = contexts[: MAX_CONTEXTS - 1] + [(sop_class, list(NATIVE_TS))]
        if len(batches[-1]) + len(group) > MAX_CONTEXTS:
            batches.append([])
        batches[-1].extend(group)
    return [batch for batch in batches if batch]


async def _store(args: argparse.Namespace) -> int:
    from dicomkit.net.association import AssociationError

    instances = _instances(args)
    if not instances:
        _error(args, "no DICOM files to send")
        return 1
    _ssl_context(args, server=False)  # usage errors before any network traffic
    lines = not args.quiet and sys.stdout.isatty()
    progress = Progress(len(instances), not args.quiet and sys.stderr.isatty())
    sent = failed = 0
    progress.show(0)
    for batch in store_contexts(instances):
        classes = {abstract for abstract, _ts in batch}
        todo = [i for i in instances if i.sop_class in classes]
        done = 0
        try:
            async with _connect(args, batch) as client:
                _log_accepted(client)
                for instance in todo:
                    ok, message = await _store_one(client, instance)
                    done += 1
                    sent, failed = sent + ok, failed + (not ok)
                    progress.clear()
                    if not ok:
                        print(f"dicomkit store: failed: {instance.path}: {message}",
                              file=sys.stderr)
                    elif lines:
                        print(f"{message:<8} {instance.path}", flush=True)
                    progress.show(sent + failed, os.path.basename(instance.path))
                    if not client.association.is_established:
                        break
        except (AssociationError, OSError, TimeoutError) as exc:
            progress.clear()
            _error(args, _describe(exc))
        for instance in todo[done:]:
            print(f"dicomkit store: failed: {instance.path}: not sent", file=sys.stderr)
        failed += len(todo) - done
    progress.clear()
    if not args.quiet:
        print(f"{sent} sent, {failed} failed")
    return 1 if failed else 0


async def _store_one(client: Any, instance: InstanceFile) -> tuple[bool, str]:
    from dicomkit.errors import DicomError
    from dicomkit.net.association import AssociationError
    from dicomkit.net.dimse import Status

    log.info("sending C-STORE-RQ %s (%s, %s)", instance.sop_instance,
             _uid_name(instance.sop_class), _uid_name(instance.transfer_syntax))
    try:
        rsp = await client.store(instance.path)
    except (AssociationError, DicomError, OSError) as exc:  # this file failed; go on
        return False, _describe(exc)
    status = int(rsp.get("Status") or 0)
    log.info("received C-STORE-RSP, status %s", _status_text(status))
    category = Status.category(status)
    if category == "Success":
        return True, "sent"
    if category == "Warning":
        return True, f"sent, warning 0x{status:04X}"
    comment = rsp.get("ErrorComment")
    return False, f"status {_status_text(status)}" + (f": {comment}" if comment else "")


# -- query keys ------------------------------------------------------------------------------
_SEGMENT = re.compile(r"^(?P<name>\(?[0-9A-Fa-f]{4},?[0-9A-Fa-f]{4}\)?|[A-Za-z][A-Za-z0-9]*)"
                      r"(?:\[(?P<index>\d+)\])?$")


def parse_key(text: str) -> tuple[list[tuple[int, int]], str | None]:
    """``Seq[0].Keyword=Value`` -> ([(tag, item index), ...], value); no '=' gives None."""
    path_text, eq, value = text.partition("=")
    path: list[tuple[int, int]] = []
    for segment in path_text.strip().split("."):
        match = _SEGMENT.match(segment)
        if match is None:
            raise UsageError(f"bad key {text!r}: {segment!r} is neither a keyword nor "
                             "(gggg,eeee)")
        name = match["name"]
        if name[0].isalpha() and not re.fullmatch(r"[0-9A-Fa-f]{8}", name):
            tag = dictionary.tag_for_keyword(name)
            if tag is None:
                raise UsageError(f"bad key {text!r}: {name} is not a DICOM keyword")
        else:
            tag = int(re.sub(r"[(),]", "", name), 16)
        path.append((tag, int(match["index"] or 0)))
    return path, (value if eq else None)


def _vr(tag: int) -> str:
    entry = dictionary.entry(tag)
    vr = entry.vr if entry is not None and entry.vr else "UN"
    return vr.split(" or ")[0]


def _typed(vr: str, text: str) -> Any:
    info = VR_INFO.get(vr)
    if text == "":
        return None
    if info is not None and info.fixed_size:
        parts = text.split("\\")
        try:
            if info.kind == "at":
                return [int(Tag(p)) for p in parts]
            numbers = [int(p, 0) if info.kind == "int" else float(p) for p in parts]
        except ValueError as exc:
            raise UsageError(f"{text!r} is not a valid {vr} value") from exc
        return numbers[0] if len(numbers) == 1 else numbers
    if info is not None and info.kind == "bytes":
        return text.encode("latin-1")
    return text


def build_query(keys: Sequence[str]) -> tuple[Dataset, list[list[tuple[int, int]]]]:
    """The identifier for the -k options, and the key paths (the columns to show)."""
    query = Dataset()
    columns = []
    for text in keys:
        path, value = parse_key(text)
        columns.append(path)
        ds = query
        for depth, (tag, index) in enumerate(path):
            last = depth == len(path) - 1
            vr = _vr(tag)
            if not last:
                if vr != "SQ":
                    raise UsageError(f"bad key {text!r}: {Tag(tag)} is not a sequence")
                if tag not in ds or ds[tag].value is None:
                    ds.set(tag, [], "SQ")
                items = ds[tag].value
                while len(items) <= index:
                    items.append(Dataset())
                    ds.set(tag, list(items), "SQ")
                    items = ds[tag].value
                ds = items[index]
            elif vr == "SQ":
                if value:
                    raise UsageError(f"bad key {text!r}: a sequence takes no value")
                if tag not in ds:
                    ds.set(tag, [], "SQ")
            else:
                ds.set(tag, _typed(vr, value or ""), vr)
    if any(not str(v).isascii() for v in keys) and "SpecificCharacterSet" not in query:
        query.SpecificCharacterSet = "ISO_IR 192"
    return query, columns


def _with_level(query: Dataset, model: str) -> Dataset:
    """C-FIND/MOVE/GET on a Q/R model need Query/Retrieve Level (PS3.4 C.4.1.1.3.1)."""
    if model != "worklist" and "QueryRetrieveLevel" not in query:
        query.QueryRetrieveLevel = "PATIENT" if model == "patient" else "STUDY"
    return query


def value_at(ds: Dataset, path: Sequence[tuple[int, int]]) -> str:
    """The printable value at a key path ('' when absent)."""
    current: Any = ds
    for depth, (tag, index) in enumerate(path):
        if not isinstance(current, Dataset) or tag not in current:
            return ""
        element = current[tag]
        if depth == len(path) - 1:
            if element.VR == "SQ":
                return f"({len(element.value or [])} items)"
            value = element.value
            values = value if isinstance(value, list) else [value]
            return "\\".join("" if v is None else str(v) for v in values)
        items = element.value or []
        current = items[index] if index < len(items) else None
    return ""


def _column_name(path: Sequence[tuple[int, int]]) -> str:
    names = []
    for depth, (tag, index) in enumerate(path):
        name = dictionary.keyword_for_tag(tag) or str(Tag(tag))
        names.append(name if depth == len(path) - 1 else f"{name}[{index}]")
    return ".".join(names)


def format_table(rows: Sequence[Dataset], columns: Sequence[Sequence[tuple[int, int]]]) -> str:
    heads = [_column_name(c) for c in columns]
    cells = [[value_at(ds, c) for c in columns] for ds in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(heads)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
              for row in cells]
    return "\n".join(lines)


def json_list(rows: Sequence[Dataset]) -> str:
    import json

    encode: Callable[[Dataset], dict[str, Any]]
    try:
        from dicomkit.encoding.json import to_json_dict as encode
    except ImportError:  # pragma: no cover - the JSON module ships alongside
        encode = _minimal_json
    return json.dumps([encode(ds) for ds in rows], indent=2, ensure_ascii=False)


def _minimal_json(ds: Dataset) -> dict[str, Any]:
    """PS3.18 F.2 for query results: strings, numbers, person names and sequences only."""
    out: dict[str, Any] = {}
    for element in ds:
        entry: dict[str, Any] = {"vr": element.VR}
        value = element.value
        if element.VR == "SQ":
            entry["Value"] = [_minimal_json(item) for item in value or []]
        elif value not in (None, "", []):
            values = value if isinstance(value, list) else [value]
            entry["Value"] = [{"Alphabetic": str(v)} if element.VR == "PN" else
                              v if isinstance(v, (int, float)) else str(v) for v in values]
        out[f"{int(element.tag):08X}"] = entry
    return out


# -- find ------------------------------------------------------------------------------------
async def _find(args: argparse.Namespace) -> int:
    from dicomkit.net.dimse import Status
    from dicomkit.net.uids import MODELS

    query, columns = build_query(args.keys)
    query = _with_level(query, args.model)
    sop_class = MODELS[args.model]["find"]
    matches: list[Dataset] = []
    final = None
    async with _connect(args, [(sop_class, NATIVE_TS)]) as client:
        _log_accepted(client)
        log.info("sending C-FIND-RQ (%s)", _uid_name(sop_class))
        async for status, identifier in client.find(query, args.model):
            log.info("received C-FIND-RSP, status %s", _status_text(status))
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
        _error(args, f"C-FIND ended with status {_status_text(final or 0xC000)}")
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
                 "warning %d", what, _status_text(status), *counts)
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
              + f"; status {_status_text(status)}")
    ok = Status.category(status) in ("Success", "Warning") and failed == 0
    if not ok:
        _error(args, f"{what} ended with status {_status_text(status)}, {failed} failed")
    return 0 if ok else 1


async def _move(args: argparse.Namespace) -> int:
    from dicomkit.net.uids import MODELS

    query = _with_level(build_query(args.keys)[0], args.model)
    sop_class = MODELS[args.model]["move"]
    progress = Progress(0, not args.quiet and sys.stderr.isatty())
    async with _connect(args, [(sop_class, NATIVE_TS)]) as client:
        _log_accepted(client)
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

    query = _with_level(build_query(args.keys)[0], args.model)
    sop_class = MODELS[args.model]["get"]
    storage, classes = get_contexts(args.sop_class)
    handler = StorageHandler(args.out)
    stored: list[str] = []
    progress = Progress(0, not args.quiet and sys.stderr.isatty())
    async with _connect(args, [(sop_class, NATIVE_TS), *storage], scp_roles=classes) as client:
        _log_accepted(client)
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
                     message.command.get("AffectedSOPInstanceUID"), _status_text(status))
            await association.send_message(message.context_id, response_to(message, status))

        # Each instance streams straight to its file in --out (no data set in memory).
        association.sink_factory = sink
        association.on_request = on_request
        log.info("sending C-GET-RQ (%s)", _uid_name(sop_class))
        status, counts = await _retrieve(args, client.get(query, args.model), "C-GET", progress)
    if not args.quiet:
        print(f"{len(stored)} file(s) stored in {args.out}")
    return _report(args, "C-GET", status, counts)


# -- storescp --------------------------------------------------------------------------------
async def _storescp(args: argparse.Namespace) -> int:
    import asyncio

    from dicomkit.net.association import Association
    from dicomkit.net.server import Server
    from dicomkit.net.storage import StoredFile
    from dicomkit.services.storage import StorageHandler

    context = _ssl_context(args, server=True)
    closing: set[asyncio.Task[None]] = set()

    def on_stored(stored: StoredFile, association: Association) -> None:
        association.user_data["stored"] = association.user_data.get("stored", 0) + 1

    async def log_end(association: Association) -> None:
        await association.wait_closed_forever()
        log.info("[%s] association ended (%s), %d instance(s) stored",
                 association.describe().rsplit(" ", 1)[0],
                 association.abort_reason or "released",
                 association.user_data.get("stored", 0))

    def on_association(association: Association) -> None:
        task = asyncio.get_running_loop().create_task(log_end(association))
        closing.add(task)
        task.add_done_callback(closing.discard)

    server = Server(handler=StorageHandler(args.out, on_stored=on_stored),
                    ae_title=args.aet or "DICOMKIT", host=args.bind, port=args.port,
                    accept_calling_aets=args.accept, require_called_aet=args.aet is not None,
                    timeouts=_timeouts(args), ssl_context=context, on_association=on_association)
    await server.start()
    security = ""
    if context is not None:
        security = ", TLS, client certificates required" if args.ca else ", TLS"
    log.info("storing in %s%s", args.out, security)
    if args.quiet and args.port == 0:  # the port is news the caller needs even then
        print(f"dicomkit storescp: listening on {args.bind}:{server.port}", file=sys.stderr,
              flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop.set)
    try:
        await stop.wait()
    finally:
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(number)
        await server.stop()
    log.info("stopped after %d association(s)", server.stats.associations)
    return 0
