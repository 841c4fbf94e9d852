"""The network tests' own peers and helpers: a dicomkit ``Server`` on its own event loop in a
thread (``ServerThread``), a tiny archive ``ArchiveHandler`` (C-FIND from file headers, C-MOVE and
C-GET of the files), DCMTK's network tools by absolute path (pynetdicom installs console scripts
with the same names), ``dcmqrscp`` filled by ``storescu``, and value comparisons of received files.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import dicomkit
from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import storage_sop_classes
from dicomkit.net import pdu as P
from dicomkit.net.association import Association
from dicomkit.net.dimse import Message, Status
from dicomkit.net.server import Server
from dicomkit.net.service import ServiceHandler
from dicomkit.net.storage import data_set_offset
from dicomkit.net.uids import MODELS, UNCOMPRESSED_TS, VERIFICATION
from dicomkit.services.storage import all_transfer_syntaxes
from tests.support.datasets import dataset_differences
from tests.support.servers import free_port

__all__ = ["free_port"]  # re-exported: the network tests take it from here

HOST = "127.0.0.1"
TRAILING_PADDING = 0xFFFCFFFC
# pydicom's files, one instance each: CT (explicit LE), MR (explicit LE), RT plan (implicit LE),
# RT dose (implicit LE), RGB secondary capture with odd dimensions (explicit LE).
ARCHIVE_FILES = ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "rtdose.dcm",
                 "SC_rgb_small_odd.dcm"]


def tool(name: str) -> str:
    path = f"/usr/bin/{name}"
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} not found (install the Debian package 'dcmtk')", pytrace=False)
    return path


def run_tool(name: str, *args: Any, check: bool = True,
             timeout: float = 60) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([tool(name), *[str(a) for a in args]], capture_output=True,
                            text=True, errors="replace", timeout=timeout, check=False)
    if check and result.returncode != 0:
        pytest.fail(f"{name} {' '.join(map(str, args))} exited {result.returncode}:\n"
                    f"{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return result


def wait_for_port(port: int, process: subprocess.Popen[Any] | None = None,
                  timeout: float = 10) -> None:
    """Until something accepts connections on the port (or the process has died)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return
        except OSError:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode} before "
                                   f"listening on {port}") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def stop_process(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


class ServerThread:
    """A dicomkit Server on its own event loop in a thread: ``with ServerThread(...) as s``."""

    def __init__(self, **options: Any) -> None:
        options.setdefault("port", 0)
        options.setdefault("host", HOST)
        self.server = Server(**options)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.server.port

    def __enter__(self) -> ServerThread:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: Any) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def read_values(path: Path | str) -> Dataset:
    return dicomkit.read(str(path))


def differences(a: Dataset, b: Dataset) -> list[str]:
    """Value differences, Data Set Trailing Padding aside (PS3.10 §7.2: DCMTK drops it)."""
    for ds in (a, b):
        if TRAILING_PADDING in ds:
            del ds[TRAILING_PADDING]
    return dataset_differences(a, b)


def same_values(original: Path | str, copy: Path | str) -> list[str]:
    return differences(read_values(original), read_values(copy))


def data_set_bytes(path: Path | str) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(data_set_offset(str(path)))
        return handle.read()


def by_instance(folder: Path) -> dict[str, Path]:
    """The DICOM files of a folder, by SOP Instance UID."""
    found = {}
    for path in folder.rglob("*"):
        if path.is_file() and not path.name.startswith("."):
            ds = dicomkit.read(str(path), stop_before_pixels=True, tags=["SOPInstanceUID"])
            found[str(ds.SOPInstanceUID)] = path
    return found


def instance_uid(path: Path | str) -> str:
    ds = dicomkit.read(str(path), stop_before_pixels=True, tags=["SOPInstanceUID"])
    return str(ds.SOPInstanceUID)


LEVEL_KEYS = {"PATIENT": 0x00100020, "STUDY": 0x0020000D, "SERIES": 0x0020000E,
              "IMAGE": 0x00080018}
_NOT_MATCHED = {0x00080005, 0x00080052, 0x00080054, 0x00080056}


def matches(identifier: Dataset, record: Dataset) -> bool:
    """PS3.4 C.2.2.2: single value, wildcard (* ?) and universal matching, enough for tests."""
    for element in identifier:
        if element.tag in _NOT_MATCHED or element.VR == "SQ" or element.tag & 0xFFFF == 0:
            continue
        wanted = element.value
        if wanted in (None, "", []):
            continue
        have = record.get(element.tag)
        have_text = "" if have is None else str(have.value if have.value is not None else "")
        if not fnmatch.fnmatchcase(have_text.strip(), str(wanted).strip()):
            return False
    return True


class ArchiveHandler(ServiceHandler):
    """A tiny archive: C-FIND from the headers of some files, C-MOVE/C-GET of the files."""

    def __init__(self, files: list[Path], destinations: dict[str, tuple[str, int]] | None = None,
                 users: dict[str, str] | None = None) -> None:
        self.files = files
        self.records = [dicomkit.read(str(f), stop_before_pixels=True) for f in files]
        self.destinations = destinations or {}
        self.users = users
        self.identities: list[P.UserIdentityRQ] = []

    def abstract_syntaxes(self) -> dict[str, Any]:
        # every storage class, for C-GET requestors that offer the SCP role
        syntaxes = all_transfer_syntaxes()
        table: dict[str, Any] = {uid: syntaxes for uid in storage_sop_classes()}
        table[VERIFICATION] = UNCOMPRESSED_TS
        for model in MODELS.values():
            for uid in model.values():
                table[uid] = UNCOMPRESSED_TS
        return table

    def accepts_scp_role(self, abstract_syntax: str) -> bool:
        return True

    def check_identity(self, association: Association,
                       identity: P.UserIdentityRQ) -> bytes | None | bool:
        self.identities.append(identity)
        if self.users is None:
            return True
        user = identity.primary.decode()
        return self.users.get(user) == identity.secondary.decode() and b"welcome"

    async def find(self, association: Association, message: Message,
                   identifier: Dataset) -> AsyncIterator[tuple[int, Dataset | None]]:
        level = str(identifier.get("QueryRetrieveLevel") or "STUDY")
        seen = set()
        for record in self.records:
            key = record.get(LEVEL_KEYS.get(level, 0x0020000D))
            unique = None if key is None else str(key.value)
            if unique in seen or not matches(identifier, record):
                continue
            seen.add(unique)
            answer = Dataset()
            for element in identifier:
                if element.tag & 0xFFFF == 0:
                    continue
                source = record.get(element.tag)
                if source is not None and element.VR != "SQ":
                    answer.set(element.tag, source.value, source.VR)
                else:
                    answer.set(element.tag, element.value, element.VR)
            answer.QueryRetrieveLevel = level
            yield Status.PENDING, answer

    async def retrieve(self, association: Association, message: Message,
                       identifier: Dataset) -> AsyncIterator[Any]:
        for path, record in zip(self.files, self.records, strict=True):
            if matches(identifier, record):
                yield str(path)

    def move_destination(self, ae_title: str) -> tuple[str, int] | None:
        return self.destinations.get(ae_title)


def write_dcmqrscp_config(folder: Path, port: int, move_destinations: dict[str, int]) -> Path:
    database = folder / "db"
    database.mkdir(parents=True, exist_ok=True)
    hosts = "\n".join(f"{aet} = ({aet}, {HOST}, {p})" for aet, p in move_destinations.items())
    config = folder / "dcmqrscp.cfg"
    config.write_text(f"""\
NetworkTCPPort  = {port}
MaxPDUSize      = 16384
MaxAssociations = 16

HostTable BEGIN
{hosts}
HostTable END

VendorTable BEGIN
VendorTable END

AETable BEGIN
QRSCP   {database}   RW (200, 1024mb)   ANY
AETable END
""")
    return config


def start_dcmqrscp(folder: Path, files: list[Path],
                   move_destinations: dict[str, int]) -> tuple[subprocess.Popen[str], int]:
    """dcmqrscp (AE QRSCP) filled with ``files`` by storescu. It runs in its default fork
    mode: in --single-process mode DCMTK 3.6.7 crashed after a storage association."""
    port = free_port()
    config = write_dcmqrscp_config(folder, port, move_destinations)
    log = open(folder / "dcmqrscp.log", "w")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen([tool("dcmqrscp"), "-c", str(config), "-v", str(port)],
                               stdout=log, stderr=subprocess.STDOUT, text=True)
    log.close()
    wait_for_port(port, process)
    run_tool("storescu", "-aec", "QRSCP", HOST, port, *files)
    return process, port


def qr_contexts(storage: Sequence[str] = ()) -> list[tuple[str, list[str]]]:
    contexts = [(uid, list(UNCOMPRESSED_TS[:2])) for model in MODELS.values()
                for uid in model.values()]
    contexts += [(uid, list(UNCOMPRESSED_TS[:2])) for uid in storage]
    return contexts
