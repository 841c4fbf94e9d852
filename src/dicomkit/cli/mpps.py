"""``dicomkit mpps``: Modality Performed Procedure Step (PS3.4 F.7) — list the archive's
instances (``ls``), and act as a modality's MPPS SCU (``create``, ``set``)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence
from typing import Any

from dicomkit.cli.net import (
    NATIVE_TS,
    UsageError,
    add_client_options,
    associate,
    log_accepted,
    run,
)
from dicomkit.cli.tables import text_table

HELP = "Modality Performed Procedure Step: list (archive), create and set (SCU)"
EPILOG = """examples:
  dicomkit mpps ls --status "IN PROGRESS" --date 20261201-20261204
  dicomkit mpps ls --json --data /srv/pacs
  dicomkit mpps create pacs 11112 --aec PACS --aet CT1 --from-worklist item.json
  dicomkit mpps create pacs 11112 --aec PACS --study 1.2.3.4 -k Modality=CT \\
      -k PerformedProcedureStepDescription="CT HEAD"
  dicomkit mpps set pacs 11112 --aec PACS 2.25.1234 --status COMPLETED --series-from img/*.dcm
  dicomkit mpps set pacs 11112 --aec PACS 2.25.1234 --status DISCONTINUED \\
      -k PerformedProcedureStepDiscontinuationReasonCodeSequence[0].CodeValue=110514

exit status: 0 done (a warning status is printed on stderr), 1 refused by the SCP (its status
and Error Comment on stderr) or no association, 2 usage error."""

STATUSES = ("IN PROGRESS", "COMPLETED", "DISCONTINUED")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("mpps", help=HELP, description=HELP, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = p.add_subparsers(dest="mpps_command", metavar="SUBCOMMAND")
    p.set_defaults(run=lambda args: (p.print_help(), 2)[1])

    ls = commands.add_parser("ls", help="list the archive's MPPS instances",
                             description="list the archive's MPPS instances, most recent first",
                             epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    ls.add_argument("--config", metavar="FILE.toml")
    ls.add_argument("--data", metavar="DIR", help="the archive (./dicomkit-data)")
    ls.add_argument("--index", metavar="URL", help="postgresql://… or a SQLite path")
    ls.add_argument("--status", type=str.upper, choices=STATUSES)
    ls.add_argument("--date", metavar="RANGE", help="start date YYYYMMDD or a range A-B, A-, -B")
    ls.add_argument("--station", metavar="AET", help="Performed Station AE Title")
    ls.add_argument("--limit", type=int, metavar="N")
    ls.add_argument("--json", action="store_true", help="one JSON object per instance, a list")
    ls.set_defaults(run=run_ls)

    create = commands.add_parser(
        "create", help="N-CREATE an MPPS IN PROGRESS; prints its SOP Instance UID",
        description="N-CREATE a Modality Performed Procedure Step (IN PROGRESS) and print its "
                    "SOP Instance UID", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_client_options(create)
    create.add_argument("-k", dest="keys", action="append", default=[], metavar="KEY=VALUE",
                        help="an attribute to send (Keyword, (gggg,eeee), Seq[0].Keyword)")
    source = create.add_mutually_exclusive_group()
    source.add_argument("--from-worklist", metavar="FILE",
                        help="the worklist item performed (DICOM JSON or a DICOM file)")
    source.add_argument("--study", metavar="UID", help="unscheduled: the Study Instance UID")
    create.add_argument("--uid", metavar="UID",
                        help="the SOP Instance UID to create (default: the SCP chooses)")
    create.set_defaults(run=lambda args: run(args, _create))

    set_ = commands.add_parser(
        "set", help="N-SET an MPPS: attributes, COMPLETED or DISCONTINUED",
        description="N-SET a Modality Performed Procedure Step", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_client_options(set_)
    set_.add_argument("uid", metavar="UID", help="the MPPS SOP Instance UID")
    set_.add_argument("--status", type=str.upper, choices=STATUSES,
                      help="Performed Procedure Step Status (a final one also sends the end "
                           "date and time, now, unless given with -k)")
    set_.add_argument("-k", dest="keys", action="append", default=[], metavar="KEY=VALUE",
                      help="an attribute to set (Keyword, (gggg,eeee), Seq[0].Keyword)")
    set_.add_argument("--series-from", nargs="+", default=[], metavar="FILE",
                      help="Performed Series Sequence from these instances' headers")
    set_.set_defaults(run=lambda args: run(args, _set))


# -- ls ------------------------------------------------------------------------------------------
def run_ls(args: argparse.Namespace) -> int:
    from dicomkit.archive.mpps import MppsStore, check_date_range
    from dicomkit.cli.archive import open_archive

    date = None
    if args.date:
        try:
            date = check_date_range(args.date)
        except ValueError as exc:
            print(f"dicomkit mpps ls: error: {exc}", file=sys.stderr)
            return 2
    archive = open_archive(args, migrate=True)
    try:
        entries = MppsStore(archive.index).entries(status=args.status, date=date,
                                                   station=args.station, limit=args.limit)
    finally:
        archive.close()
    if args.json:
        print(json.dumps([e.summary() for e in entries], indent=1, ensure_ascii=False))
        return 0
    headers = ["Status", "Start", "Station", "Modality", "PatientID", "PatientName",
               "Accession", "SOPInstanceUID"]
    rows = [[e.status, f"{e.start_date} {e.start_time}".strip(), e.station_ae, e.modality,
             e.patient_id, e.patient_name, e.accession_number, e.sop_uid] for e in entries]
    print(text_table(headers, rows))
    return 0


# -- create / set --------------------------------------------------------------------------------
def _keys(ds: Any, keys: Sequence[str]) -> None:
    from dicomkit.cli.query_keys import build_query

    given, _ = build_query(keys)
    for element in given:
        ds[element.tag] = element


def _now() -> tuple[str, str]:
    moment = dt.datetime.now()
    return moment.strftime("%Y%m%d"), moment.strftime("%H%M%S")


def worklist_item(path: str) -> Any:
    """A worklist item from a DICOM JSON file (an object, or a list of one as ``dicomkit find
    --worklist --json`` prints) or a DICOM file."""
    from dicomkit.encoding.json import from_json
    from dicomkit.encoding.reader import read
    from dicomkit.errors import DicomError

    try:
        with open(path, "rb") as handle:
            head = handle.read(1).lstrip()
    except OSError as exc:
        raise UsageError(f"--from-worklist {path}: {exc.strerror or exc}") from exc
    try:
        if head in (b"{", b"["):
            with open(path, encoding="utf-8") as handle:
                loaded = json.load(handle)
            if isinstance(loaded, list):
                if len(loaded) != 1:
                    raise UsageError(f"--from-worklist {path}: {len(loaded)} items, expected "
                                     "one")
                loaded = loaded[0]
            return from_json(loaded)
        return read(path, stop_before_pixels=True)
    except (DicomError, ValueError) as exc:
        raise UsageError(f"--from-worklist {path}: not a worklist item: {exc}") from exc


def create_attributes(args: argparse.Namespace) -> Any:
    """The N-CREATE attribute list (PS3.4 Table F.7.2-1): from the worklist item performed,
    or unscheduled (PS3.17 / IHE RAD: empty scheduling keys), then the -k keys."""
    from dicomkit.core.dataset import Dataset
    from dicomkit.core.uid import generate_uid

    ds = Dataset()
    step = Dataset()
    step.ReferencedStudySequence = []
    for keyword in ("AccessionNumber", "RequestedProcedureID", "RequestedProcedureDescription",
                    "ScheduledProcedureStepID", "ScheduledProcedureStepDescription"):
        step.set(keyword, None)
    step.ScheduledProtocolCodeSequence = []
    modality = "OT"
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex"):
        ds.set(keyword, None)
    ds.ReferencedPatientSequence = []
    steps = [step]
    if args.from_worklist:
        item = worklist_item(args.from_worklist)
        for keyword in ("PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate",
                        "PatientSex", "ReferencedPatientSequence"):
            if keyword in item:
                ds[item[keyword].tag] = item[keyword]
        for keyword in ("StudyInstanceUID", "AccessionNumber", "RequestedProcedureID",
                        "RequestedProcedureDescription", "ReferencedStudySequence",
                        "RequestedProcedureCodeSequence"):
            if keyword in item:
                step[item[keyword].tag] = item[keyword]
        steps = []
        for sps in item.get("ScheduledProcedureStepSequence") or [Dataset()]:
            one = step.copy()
            for keyword in ("ScheduledProcedureStepID", "ScheduledProcedureStepDescription",
                            "ScheduledProtocolCodeSequence"):
                if keyword in sps:
                    one[sps[keyword].tag] = sps[keyword]
            steps.append(one)
            modality = str(sps.get("Modality") or modality)
        if "StudyInstanceUID" not in step:
            raise UsageError(f"--from-worklist {args.from_worklist}: no Study Instance UID")
    else:
        step.StudyInstanceUID = args.study or generate_uid()
    ds.ScheduledStepAttributesSequence = steps
    date, time = _now()
    ds.PerformedProcedureStepID = date[2:] + time
    ds.PerformedStationAETitle = args.aet
    for keyword in ("PerformedStationName", "PerformedLocation",
                    "PerformedProcedureStepDescription", "PerformedProcedureTypeDescription",
                    "PerformedProcedureStepEndDate", "PerformedProcedureStepEndTime",
                    "StudyID"):
        ds.set(keyword, None)
    ds.PerformedProcedureStepStartDate = date
    ds.PerformedProcedureStepStartTime = time
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.ProcedureCodeSequence = []
    ds.Modality = modality
    ds.PerformedProtocolCodeSequence = []
    ds.PerformedSeriesSequence = []
    _keys(ds, args.keys)
    return ds


def performed_series(paths: Sequence[str], retrieve_ae: str) -> list[Any]:
    """Performed Series Sequence items (PS3.4 Table F.7.2-1) from the instances' headers:
    one per Series Instance UID, images (with Pixel Data) and other objects referenced apart."""
    from dicomkit.core.dataset import Dataset
    from dicomkit.encoding.reader import read
    from dicomkit.errors import DicomError

    series: dict[str, Any] = {}
    for path in paths:
        try:
            ds = read(path, stop_before_pixels=False, tags=[
                "SOPClassUID", "SOPInstanceUID", "SeriesInstanceUID", "SeriesDescription",
                "ProtocolName", "PerformingPhysicianName", "OperatorsName",
                "RetrieveAETitle", 0x7FE00010])
        except (OSError, DicomError) as exc:
            raise UsageError(f"--series-from {path}: {exc}") from exc
        uid = str(ds.get("SeriesInstanceUID") or "")
        if not uid or not ds.get("SOPInstanceUID"):
            raise UsageError(f"--series-from {path}: no Series or SOP Instance UID")
        item = series.get(uid)
        if item is None:
            item = series[uid] = Dataset()
            item.PerformingPhysicianName = ds.get("PerformingPhysicianName")
            item.ProtocolName = ds.get("ProtocolName") or ds.get("SeriesDescription") or "-"
            item.OperatorsName = ds.get("OperatorsName")
            item.SeriesInstanceUID = uid
            item.SeriesDescription = ds.get("SeriesDescription")
            item.RetrieveAETitle = ds.get("RetrieveAETitle") or retrieve_ae
            item.ReferencedImageSequence = []
            item.ReferencedNonImageCompositeSOPInstanceSequence = []
        ref = Dataset()
        ref.ReferencedSOPClassUID = str(ds.get("SOPClassUID") or "")
        ref.ReferencedSOPInstanceUID = str(ds.get("SOPInstanceUID"))
        keyword = ("ReferencedImageSequence" if 0x7FE00010 in ds
                   else "ReferencedNonImageCompositeSOPInstanceSequence")
        item.set(keyword, list(item.get(keyword) or []) + [ref])
    return list(series.values())


def _report(args: argparse.Namespace, operation: str, status: int, command: Any) -> int:
    from dicomkit.cli.net import error, status_text
    from dicomkit.net.dimse import Status

    category = Status.category(status)
    detail = []
    for keyword in ("ErrorComment", "ErrorID", "AttributeIdentifierList"):
        value = command.get(keyword) if command is not None else None
        if value not in (None, "", []):
            if keyword == "ErrorID":
                value = f"{int(value):04X}H"
            elif keyword == "AttributeIdentifierList":
                tags = value if isinstance(value, list) else [value]
                value = ", ".join(f"({int(t) >> 16:04X},{int(t) & 0xFFFF:04X})" for t in tags)
            detail.append(f"{keyword} {value}")
    text = f"{operation}: status {status_text(status)}" + (f": {'; '.join(detail)}"
                                                           if detail else "")
    if category == "Success":
        return 0
    if category == "Warning":
        if not args.quiet:
            print(f"dicomkit mpps: warning: {text}", file=sys.stderr)
        return 0
    error(args, text)
    return 1


async def _create(args: argparse.Namespace) -> int:
    from dicomkit.services.mpps import MPPS_SOP_CLASS

    attributes = create_attributes(args)
    async with associate(args, [(MPPS_SOP_CLASS, NATIVE_TS)]) as client:
        log_accepted(client)
        status, data, command = await client.n_create(MPPS_SOP_CLASS, args.uid, attributes)
    code = _report(args, "N-CREATE", status, command)
    if code == 0:
        uid = (command.get("AffectedSOPInstanceUID") or args.uid
               or (data.get("SOPInstanceUID") if data is not None else None))
        print(uid)
    return code


async def _set(args: argparse.Namespace) -> int:
    from dicomkit.core.dataset import Dataset
    from dicomkit.services.mpps import FINAL_STATES, MPPS_SOP_CLASS

    modification = Dataset()
    if args.status:
        modification.PerformedProcedureStepStatus = args.status
        if args.status in FINAL_STATES:
            date, time = _now()
            modification.PerformedProcedureStepEndDate = date
            modification.PerformedProcedureStepEndTime = time
    if args.series_from:
        modification.PerformedSeriesSequence = performed_series(args.series_from, args.aec)
    _keys(modification, args.keys)
    if not len(modification):
        raise UsageError("nothing to set: give --status, --series-from or -k")
    async with associate(args, [(MPPS_SOP_CLASS, NATIVE_TS)]) as client:
        log_accepted(client)
        status, _, command = await client.n_set(MPPS_SOP_CLASS, args.uid, modification)
    return _report(args, "N-SET", status, command)
