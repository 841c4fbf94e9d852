"""``dicomkit commit``: the Storage Commitment Push Model SCU (PS3.4 Annex J): ask a peer to
commit to keeping the instances of some files, wait for its report (on the same association,
or on a new one to our own listener) and print each instance's outcome.

Exit status: 0 every instance committed; 1 any failed (or the request was refused, or the
peer could not be reached); 2 usage error (an unreadable or non-DICOM file); 3 no report
within ``--wait`` seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from dicomkit.cli.net import (
    NATIVE_TS,
    UsageError,
    add_client_options,
    associate,
    command_parser,
    log,
    log_accepted,
    run,
    status_text,
    uid_name,
    walk_files,
)

TIMED_OUT = 3


def add_parser(sub: Any) -> None:
    p = command_parser(sub, "commit", "request Storage Commitment for files (PS3.4 Annex J)", """\
  dicomkit commit pacs 104 --aec PACS study/*.dcm          report on the same association
  dicomkit commit pacs 104 --aec PACS -r study/ --json     a folder; outcome as JSON
  dicomkit commit pacs 104 --aec PACS --aet MODALITY --port 11113 study/*.dcm
      the report comes on a new association to port 11113 (the PACS must know MODALITY
      there: dicomkit serve --peer MODALITY=this-host:11113)
  dicomkit commit pacs 104 --aec PACS --wait 600 -q *.dcm && echo committed

exit status (commit): 0 all committed, 1 any failed or refused, 2 usage error, 3 no report
within --wait seconds.
""")
    add_client_options(p)
    p.add_argument("paths", nargs="+", metavar="FILE",
                   help="DICOM files (headers are read) or, with -r, folders")
    p.add_argument("-r", "--recursive", action="store_true", help="read folders recursively")
    p.add_argument("--wait", type=float, default=60.0, metavar="SECONDS",
                   help="how long to wait for the report [60]")
    p.add_argument("--port", dest="listen_port", type=int, metavar="PORT",
                   help="listen on PORT for the report on a new association (we take the SCU "
                        "role, the peer the SCP role); the association of the request is "
                        "released at once unless --keep-open")
    p.add_argument("--bind", default="0.0.0.0", metavar="ADDRESS",
                   help="the address --port listens on [0.0.0.0]")
    p.add_argument("--keep-open", action="store_true",
                   help="with --port: keep the request's association open too, taking the "
                        "report whichever way it comes")
    p.add_argument("--transaction-uid", metavar="UID",
                   help="the Transaction UID (default: a new one)")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    p.set_defaults(run=lambda args: run(args, _commit))


def references(args: argparse.Namespace) -> list[tuple[str, Any]]:
    """(file, Reference) of each file, from its header; a file that is not DICOM or has no
    SOP Class/Instance UID is a usage error naming it."""
    from dicomkit.encoding.reader import read
    from dicomkit.services.commitment import Reference

    found = []
    for path in walk_files(args.paths, args.recursive, verb="read"):
        try:
            ds = read(path, stop_before_pixels=True, tags=[0x00080016, 0x00080018])
        except Exception as exc:  # noqa: BLE001 - named in the usage error
            raise UsageError(f"{path}: not a DICOM instance ({exc})") from exc
        sop_class = str(ds.get("SOPClassUID") or "").strip("\0 ")
        sop_instance = str(ds.get("SOPInstanceUID") or "").strip("\0 ")
        if not sop_class or not sop_instance:
            raise UsageError(f"{path}: not a DICOM instance (no SOP Class UID / SOP "
                             "Instance UID)")
        found.append((path, Reference(sop_class, sop_instance)))
    if not found:
        raise UsageError("no files to commit")
    return found


async def _commit(args: argparse.Namespace) -> int:
    import asyncio

    from dicomkit.core.uid import UID, generate_uid
    from dicomkit.net.server import Server
    from dicomkit.services.commitment import (
        PUSH_MODEL,
        PUSH_MODEL_INSTANCE,
        REQUEST_STORAGE_COMMITMENT,
        CommitmentReportReceiver,
        request_information,
    )

    if args.keep_open and args.listen_port is None:
        raise UsageError("--keep-open goes with --port (without --port the association is "
                         "kept open anyway)")
    if args.wait <= 0:
        raise UsageError("--wait must be more than 0 seconds")
    transaction = args.transaction_uid or generate_uid()
    if not UID(transaction).is_valid:
        raise UsageError(f"--transaction-uid {transaction!r} is not a UID")
    files = references(args)
    refs = list(dict.fromkeys(ref for _, ref in files))
    receiver = CommitmentReportReceiver(transaction)
    server = None
    if args.listen_port is not None:
        server = Server(handler=receiver, ae_title=args.aet, host=args.bind,
                        port=args.listen_port)
        await server.start()
        log.info("listening for the report as %s on %s:%d", args.aet, args.bind, server.port)
    try:
        client = await associate(args, [(PUSH_MODEL, NATIVE_TS)])
        try:
            log_accepted(client)
            client.event_handler = receiver.on_event
            status, _, rsp = await client.n_action(
                PUSH_MODEL, PUSH_MODEL_INSTANCE, REQUEST_STORAGE_COMMITMENT,
                request_information(transaction, refs))
            if status != 0:
                comment = rsp.get("ErrorComment")
                print(f"dicomkit commit: error: the request was refused: status "
                      f"{status_text(status)}" + (f": {comment}" if comment else ""),
                      file=sys.stderr)
                return 1
            log.info("request %s accepted for %d instance(s)", transaction, len(refs))
            if server is not None and not args.keep_open:
                await client.release()
            try:
                await asyncio.wait_for(receiver.received.wait(), args.wait)
            except TimeoutError:
                print(f"dicomkit commit: error: no report of transaction {transaction} "
                      f"within {args.wait:g} s", file=sys.stderr)
                return TIMED_OUT
        finally:
            if client.association.is_established:
                await client.release()
    finally:
        if server is not None:
            await server.stop(grace=1)
    result = receiver.result
    assert result is not None
    return _print(args, files, result)


def _print(args: argparse.Namespace, files: list[tuple[str, Any]], result: Any) -> int:
    from dicomkit.services.commitment import FailureReason

    committed = set(result.committed)
    failed = dict(result.failed)
    rows = []
    for path, ref in files:
        if ref in committed:
            outcome, reason = "committed", None
        elif ref in failed:
            reason = failed[ref]
            try:
                meaning = FailureReason(reason).meaning
            except ValueError:
                meaning = "unknown reason"
            outcome = f"failed 0x{reason:04X} ({meaning})"
        else:
            outcome, reason = "not in the report", None
        rows.append((path, ref, outcome, reason))
    all_committed = all(ref in committed for _, ref, _, _ in rows)
    if args.json:
        print(json.dumps({
            "transaction_uid": result.transaction_uid,
            "event_type": result.event_type,
            "all_committed": all_committed,
            "instances": [{"file": path, "sop_class": ref.sop_class,
                           "sop_instance": ref.sop_instance, "committed": ref in committed,
                           "failure_reason": (f"{reason:04X}" if reason is not None else None),
                           "outcome": outcome}
                          for path, ref, outcome, reason in rows]}, indent=2))
    elif not args.quiet or not all_committed:
        width = max(len(ref.sop_instance) for _, ref, _, _ in rows)
        print(f"{'SOP Instance UID':<{width}}  {'Outcome':<40}  SOP Class")
        for _path, ref, outcome, _reason in rows:
            print(f"{ref.sop_instance:<{width}}  {outcome:<40}  {uid_name(ref.sop_class)}")
        print(f"transaction {result.transaction_uid}: "
              f"{sum(1 for _, ref, _, _ in rows if ref in committed)} of {len(rows)} committed")
    return 0 if all_committed else 1
