"""``dicomkit echo | store | find | move | get | storescp``: the DICOM network services from the
command line, one command per job like DCMTK's echoscu, storescu, findscu, movescu, getscu and
storescp (PS3.4 Annexes A, B, C over PS3.7 DIMSE and the PS3.8 upper layer).

This module holds what the commands share (options, association, errors, logging, progress) and
the C-ECHO and C-STORE requestors; find, move and get are in :mod:`dicomkit.cli.net_query`,
storescp in :mod:`dicomkit.cli.net_storescp`.

Exit status, for every command: 0 when everything succeeded, 1 when anything failed (a
connection, an association, a non-success status), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from dicomkit.core.uid import uid_info
from dicomkit.net.uids import EXPLICIT_VR_LE, IMPLICIT_VR_LE

if TYPE_CHECKING:  # ssl is imported when a command runs: every start pays else
    import ssl

log = logging.getLogger("dicomkit.cli.net")

COMMON_EPILOG = """
common options: --aet (calling AE title, default DICOMKIT), --aec (called AE title, default
ANY-SCP), --timeout SECONDS, -v (association and DIMSE log on stderr; -vv adds PDUs),
--tls with --ca (verify the peer), --cert/--key (our certificate, for mutual authentication).

exit status: 0 all succeeded, 1 any failure, 2 usage error."""

NATIVE_TS = [EXPLICIT_VR_LE, IMPLICIT_VR_LE]  # what uncompressed files are sent in
MAX_CONTEXTS = 128  # PS3.8 §9.3.2.2: odd presentation context ids 1-255


class UsageError(Exception):
    """A bad command line found after parsing (exit status 2)."""


# -- registration ----------------------------------------------------------------------------
def add_parser(sub: Any) -> None:
    _add_echo(sub)
    _add_store(sub)


def command_parser(sub: Any, name: str, help_: str, examples: str) -> argparse.ArgumentParser:
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


def add_security_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tls", action="store_true", help="use TLS (PS3.15 Annex B.1)")
    p.add_argument("--cert", metavar="PEM", help="our certificate (TLS)")
    p.add_argument("--key", metavar="PEM", help="the private key of --cert (TLS)")
    p.add_argument("--ca", metavar="PEM", help="CA certificates to verify the peer with (TLS)")
    p.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="connection, association and DIMSE timeout")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="log associations and DIMSE messages to stderr (-vv: PDUs too)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")


def add_client_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("host", help="the peer's host name or address")
    p.add_argument("port", type=int, help="the peer's TCP port")
    p.add_argument("--aet", default="DICOMKIT", type=ae_title,
                   help="our (calling) AE title [DICOMKIT]")
    p.add_argument("--aec", default="ANY-SCP", type=ae_title,
                   help="the peer's (called) AE title [ANY-SCP]")
    add_security_options(p)


def _add_echo(sub: Any) -> None:
    p = command_parser(sub, "echo", "verify a DICOM peer with C-ECHO (PS3.7 §9.1.5)", """\
  dicomkit echo pacs.example.org 104 --aec PACS
  dicomkit echo 127.0.0.1 2762 --tls --ca ca.pem      over TLS, verifying the server
""")
    add_client_options(p)
    p.set_defaults(run=lambda args: run(args, _echo))


def _add_store(sub: Any) -> None:
    p = command_parser(sub, "store", "send DICOM files with C-STORE (PS3.4 Annex B)", """\
  dicomkit store pacs 104 --aec PACS image.dcm         one file
  dicomkit store pacs 104 --aec PACS -r study/         a folder and its subfolders
  dicomkit store pacs 104 -q *.dcm && echo all sent    scripts: only errors are printed
""")
    add_client_options(p)
    p.add_argument("paths", nargs="+", metavar="PATH", help="DICOM files or (with -r) folders")
    p.add_argument("-r", "--recursive", action="store_true", help="send folders recursively")
    p.set_defaults(run=lambda args: run(args, _store))


# -- shared plumbing -------------------------------------------------------------------------
def run(args: argparse.Namespace,
        command: Callable[[argparse.Namespace], Coroutine[Any, Any, int]]) -> int:
    import asyncio

    from dicomkit.errors import DicomError
    from dicomkit.net.association import AssociationError

    _logging(args)
    try:
        return asyncio.run(command(args))
    except UsageError as exc:
        error(args, str(exc))
        return 2
    except (AssociationError, DicomError, OSError, TimeoutError) as exc:
        error(args, _describe(exc))
        return 1


def error(args: argparse.Namespace, message: str) -> None:
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


def ssl_context(args: argparse.Namespace, *, server: bool) -> ssl.SSLContext | None:
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


def timeouts(args: argparse.Namespace) -> Any:
    from dicomkit.net.association import Timeouts

    if args.timeout is None:
        return Timeouts()
    return Timeouts(artim=args.timeout, dimse=args.timeout, network=args.timeout)


def associate(args: argparse.Namespace, contexts: Sequence[tuple[str, Sequence[str]]],
              scp_roles: Sequence[str] = ()) -> Any:
    from dicomkit.net.client import connect
    from dicomkit.pixels.transcode import lossless

    log.info("requesting association %s -> %s at %s:%s (%d presentation contexts)", args.aet,
             args.aec, args.host, args.port, len(contexts))
    return connect(args.host, args.port, calling_aet=args.aet, called_aet=args.aec,
                   contexts=contexts, scp_roles=scp_roles, timeouts=timeouts(args),
                   ssl_context=ssl_context(args, server=False), transcoder=lossless)


def log_accepted(client: Any) -> None:
    contexts = client.contexts
    log.info("association accepted, %d presentation context(s)", len(contexts))
    for context in contexts.values():
        log.debug("  context %d: %s in %s", context.id, uid_name(context.abstract_syntax),
                  uid_name(context.transfer_syntax))


def uid_name(uid: str) -> str:
    info = uid_info(uid)
    return info.name if info is not None else uid


def status_text(status: int) -> str:
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

    async with associate(args, [(VERIFICATION, NATIVE_TS)]) as client:
        log_accepted(client)
        log.info("sending C-ECHO-RQ")
        status = await client.echo()
        log.info("received C-ECHO-RSP, status %s", status_text(status))
    if not args.quiet:
        print(f"C-ECHO {args.host}:{args.port} {args.aec}: status {status_text(status)}")
    return 0 if status == 0 else 1


# -- store -----------------------------------------------------------------------------------
@dataclass
class InstanceFile:
    """A file to send, with what its header says."""

    path: str
    sop_class: str
    sop_instance: str
    transfer_syntax: str


def walk_files(paths: Sequence[str], recursive: bool, verb: str = "send") -> Iterator[str]:
    """Each named file, and with ``recursive`` each file under each named folder (sorted); a
    folder without ``recursive`` or a missing path is a usage error naming it ("use -r to
    <verb> folders")."""
    for path in paths:
        if os.path.isdir(path):
            if not recursive:
                raise UsageError(f"{path} is a folder; use -r to {verb} folders")
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
    for path in walk_files(args.paths, args.recursive):
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
        error(args, "no DICOM files to send")
        return 1
    ssl_context(args, server=False)  # usage errors before any network traffic
    lines = not args.quiet and sys.stdout.isatty()
    progress = Progress(len(instances), not args.quiet and sys.stderr.isatty())
    sent = failed = 0
    progress.show(0)
    for batch in store_contexts(instances):
        classes = {abstract for abstract, _ts in batch}
        todo = [i for i in instances if i.sop_class in classes]
        done = 0
        try:
            async with associate(args, batch) as client:
                log_accepted(client)
                # The next file is read while the peer answers the current one.
                results = client.store_files([instance.path for instance in todo])
                async for _path, outcome in results:
                    instance = todo[done]
                    ok, message = _store_outcome(instance, outcome)
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
                await results.aclose()
        except (AssociationError, OSError, TimeoutError) as exc:
            progress.clear()
            error(args, _describe(exc))
        for instance in todo[done:]:
            print(f"dicomkit store: failed: {instance.path}: not sent", file=sys.stderr)
        failed += len(todo) - done
    progress.clear()
    if not args.quiet:
        print(f"{sent} sent, {failed} failed")
    return 1 if failed else 0


def _store_outcome(instance: InstanceFile, outcome: Any) -> tuple[bool, str]:
    """(sent, what to print) for one file of ``Client.store_files``: its response command or
    the error that stopped it."""
    from dicomkit.net.dimse import Status

    log.info("C-STORE-RQ %s (%s, %s)", instance.sop_instance,
             uid_name(instance.sop_class), uid_name(instance.transfer_syntax))
    if isinstance(outcome, Exception):  # this file failed; go on
        return False, _describe(outcome)
    rsp = outcome
    status = int(rsp.get("Status") or 0)
    log.info("received C-STORE-RSP, status %s", status_text(status))
    category = Status.category(status)
    if category == "Success":
        return True, "sent"
    if category == "Warning":
        return True, f"sent, warning 0x{status:04X}"
    comment = rsp.get("ErrorComment")
    return False, f"status {status_text(status)}" + (f": {comment}" if comment else "")
