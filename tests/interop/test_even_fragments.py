"""PS3.8 Annex E.1 with DCMTK as the receiver: every fragment dicomkit sends is even.

DCMTK aborts a message with "DIMSE: Odd Fragment Length" when a PDV holds an odd number of
bytes. Every path that sends a data set is driven into a DCMTK receiver with a single-frame CT
and a multi-frame Enhanced MR-like data set (nested functional group sequences): C-STORE from a
file, from memory, converted (Implicit to Explicit VR Little Endian) and deflated (PS3.5 A.5),
C-MOVE sub-operations (``movescu`` makes ``dicomkit serve`` send to ``storescp``), C-GET
sub-operations (``getscu`` receives) and C-FIND responses (``findscu``), the archive ones on
SQLite and PostgreSQL.

DCMTK rounds an odd ``--max-pdu`` down to even before it offers it ("PDV receive length 16383
is odd (using 16382)"), so a peer that offers an odd Maximum Length Received (PS3.8 D.1) is
made by a small proxy in front of the DCMTK tool that rewrites that one field of the
A-ASSOCIATE-AC (or -RQ) to an odd value. The proxy also decodes every P-DATA-TF it forwards and
records each fragment's length, so the test checks the rule itself (even, within the offered
maximum) as well as DCMTK accepting the data. The receivers write what they got bit for bit
(``+B``); the data set bytes must equal the bytes meant to be sent.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import dicomkit
from dicomkit.cli.sample import make_ct
from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import generate_uid
from dicomkit.encoding.writer import dataset_to_bytes, write
from dicomkit.net.storage import data_set_offset
from tests.support.databases import Backend
from tests.support.dcmtk import DCMTK_NET, background, run_tool
from tests.support.servers import ServeFactory, free_port, serve_env, wait_for_port

pytestmark = pytest.mark.dcmtk

ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
IMPLICIT = "1.2.840.10008.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"
DEFLATED = "1.2.840.10008.1.2.1.99"
ODD_MAX_PDUS = [3585, 16383]  # what the proxy offers on DCMTK's behalf


# -- data sets -------------------------------------------------------------------------------
def enhanced_mr(frames: int = 7, rows: int = 61, columns: int = 67) -> Dataset:
    """An Enhanced MR Image-like multi-frame data set: shared and per-frame functional groups
    with sequences nested two deep (PS3.3 C.7.6.16), odd rows and columns, 16-bit frames."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    ds.SOPClassUID = ENHANCED_MR
    ds.SOPInstanceUID = generate_uid()
    ds.StudyDate = "20260105"
    ds.Modality = "MR"
    ds.PatientName = "Fragment^Odd"
    ds.PatientID = "DK-EVEN-1"
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 3
    ds.InstanceNumber = 1
    ds.FrameOfReferenceUID = generate_uid()
    ds.NumberOfFrames = frames
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    dimension = Dataset()
    dimension.DimensionIndexPointer = 0x00200032
    dimension.FunctionalGroupPointer = 0x00209113
    ds.DimensionIndexSequence = [dimension]
    measures = Dataset()
    measures.PixelSpacing = [0.9375, 0.9375]
    measures.SliceThickness = 3.3
    orientation = Dataset()
    orientation.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    frame_type = Dataset()
    frame_type.FrameType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    frame_type.PixelPresentation = "MONOCHROME"
    shared = Dataset()
    shared.PixelMeasuresSequence = [measures]
    shared.PlaneOrientationSequence = [orientation]
    shared.MRImageFrameTypeSequence = [frame_type]
    ds.SharedFunctionalGroupsSequence = [shared]
    per_frame = []
    for number in range(1, frames + 1):
        content = Dataset()
        content.FrameAcquisitionNumber = number
        content.DimensionIndexValues = [number]
        content.StackID = "1"
        content.InStackPositionNumber = number
        position = Dataset()
        position.ImagePositionPatient = [-120.0, -97.5, -40.0 + 3.3 * number]
        echo = Dataset()
        echo.EffectiveEchoTime = 4.6 + number / 7
        transform = Dataset()
        transform.RescaleIntercept = 0.0
        transform.RescaleSlope = 1.0 + number / 3
        transform.RescaleType = "US"
        item = Dataset()
        item.FrameContentSequence = [content]
        item.PlanePositionSequence = [position]
        item.MREchoSequence = [echo]
        item.PixelValueTransformationSequence = [transform]
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = per_frame
    pixels = [(f * 131 + r * 7 + c * 3) % 4096 for f in range(frames) for r in range(rows)
              for c in range(columns)]
    ds.set("PixelData", struct.pack(f"<{len(pixels)}H", *pixels), "OW")
    return ds


@dataclass
class Source:
    name: str
    path: Path
    sop_class: str
    sop: str


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Source]:
    """The two test files in Explicit VR Little Endian, and the same in Implicit VR."""
    folder = tmp_path_factory.mktemp("even-fragments")
    out: dict[str, Source] = {}
    for name, ds in (("ct", make_ct(129)), ("enhanced-mr", enhanced_mr())):
        for syntax, suffix in ((EXPLICIT, ""), (IMPLICIT, "-implicit")):
            path = folder / f"{name}{suffix}.dcm"
            write(ds, str(path), transfer_syntax=syntax)
            out[name + suffix] = Source(name, path, str(ds.SOPClassUID), str(ds.SOPInstanceUID))
    return out


def data_set_bytes(path: Path) -> bytes:
    """A Part 10 file's data set, after its File Meta Information."""
    return path.read_bytes()[data_set_offset(str(path)):]


# -- a peer offering an odd maximum PDU length ----------------------------------------------------
@dataclass
class Fragment:
    direction: str  # "to-acceptor" or "to-requestor"
    length: int  # of the message fragment (PDV less its Message Control Header)
    pdu_length: int


@dataclass
class OddMaxPduProxy:
    """A TCP forwarder on 127.0.0.1 to a DICOM peer that rewrites Maximum Length Received
    (PS3.8 D.1, user information sub-item 51H) to ``max_pdu`` in the A-ASSOCIATE-AC
    (``rewrite=0x02``: the requestor sees the odd value) or -RQ (``0x01``: the acceptor does),
    and records every fragment of every P-DATA-TF (PS3.8 §9.3.5) it forwards."""

    target_port: int
    max_pdu: int
    rewrite: int
    listen_port: int = 0  # 0: a free one
    fragments: list[Fragment] = field(default_factory=list)
    rewritten: int = 0

    def __post_init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.listen_port))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        except OSError:
            pass
        self.listener.close()
        for sock in self.sockets:
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self.sockets += [client, upstream]
            for src, dst, direction in ((client, upstream, "to-acceptor"),
                                        (upstream, client, "to-requestor")):
                threading.Thread(target=self._pump, args=(src, dst, direction),
                                 daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, direction: str) -> None:
        reader = src.makefile("rb")
        try:
            while True:
                header = reader.read(6)
                if len(header) < 6:
                    break
                length = int.from_bytes(header[2:6], "big")
                body = bytearray(reader.read(length))
                if len(body) < length:
                    break
                if header[0] == self.rewrite:
                    self._rewrite(body)
                elif header[0] == 0x04:
                    self._record(direction, body)
                dst.sendall(header + body)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def _rewrite(self, body: bytearray) -> None:
        pos = 68  # protocol version, reserved, called AE, calling AE, reserved (Table 9-11)
        while pos + 4 <= len(body):
            item_type, item_length = body[pos], int.from_bytes(body[pos + 2:pos + 4], "big")
            if item_type == 0x50:
                sub = pos + 4
                while sub < pos + 4 + item_length:
                    sub_type = body[sub]
                    sub_length = int.from_bytes(body[sub + 2:sub + 4], "big")
                    if sub_type == 0x51 and sub_length == 4:
                        body[sub + 4:sub + 8] = self.max_pdu.to_bytes(4, "big")
                        with self.lock:
                            self.rewritten += 1
                    sub += 4 + sub_length
            pos += 4 + item_length

    def _record(self, direction: str, body: bytearray) -> None:
        pos = 0
        found = []
        while pos + 6 <= len(body):
            item_length = int.from_bytes(body[pos:pos + 4], "big")
            found.append(Fragment(direction, item_length - 2, len(body)))
            pos += 4 + item_length
        with self.lock:
            self.fragments += found

    def check(self, direction: str) -> list[int]:
        """Every fragment sent ``direction`` even and within the odd maximum; their lengths."""
        assert self.rewritten, "the proxy saw no Maximum Length sub-item to rewrite"
        sent = [f for f in self.fragments if f.direction == direction]
        odd = [f.length for f in sent if f.length % 2]
        assert not odd, f"odd fragments sent {direction}: {odd[:10]}"
        too_long = [f.pdu_length for f in sent if f.pdu_length > self.max_pdu]
        assert not too_long, f"P-DATA-TF longer than the offered {self.max_pdu}: {too_long[:5]}"
        return [f.length for f in sent]

    @property
    def full(self) -> int:
        """The longest fragment that fits (the odd maximum less 6, less one more byte)."""
        return self.max_pdu - 7


@pytest.fixture
def proxies() -> Iterator[list[OddMaxPduProxy]]:
    made: list[OddMaxPduProxy] = []
    yield made
    for proxy in made:
        proxy.stop()


def storescp(tmp_path: Path, *options: Any) -> tuple[Any, int, Path]:
    """DCMTK storescp writing what it receives bit for bit (+B) into a folder."""
    out = tmp_path / "storescp-out"
    out.mkdir(exist_ok=True)
    port = free_port()
    scp = background([DCMTK_NET["storescp"], "-aet", "DEST", "+B", "-od", out,
                      *options, port], tmp_path / f"storescp-{port}.log")
    wait_for_port(port, scp.proc, describe=scp.log)
    return scp, port, out


def received(out: Path, sop: str) -> bytes:
    """The data set storescp or getscu wrote for ``sop`` (in a file named ``XX.<sop>``)."""
    matches = [p for p in out.iterdir() if p.name.endswith(sop)]
    assert len(matches) == 1, sorted(p.name for p in out.iterdir())
    return data_set_bytes(matches[0])


# -- C-STORE as SCU ---------------------------------------------------------------------------
def store_with_client(port: int, source: Source, how: str) -> int:
    """C-STORE with dicomkit's client: ``file`` (streamed as stored), ``memory`` (a Dataset),
    ``converted`` (an Implicit VR file to Explicit VR), ``deflated`` (to Deflated Explicit VR
    Little Endian, PS3.5 A.5). The response status."""
    from dicomkit.net.client import connect

    syntax = {"file": EXPLICIT, "memory": EXPLICIT, "converted": EXPLICIT,
              "deflated": DEFLATED}[how]

    async def go() -> int:
        async with connect("127.0.0.1", port, calling_aet="DKTEST", called_aet="DEST",
                           contexts=[(source.sop_class, [syntax])]) as client:
            what: Any = dicomkit.read(str(source.path)) if how == "memory" else source.path
            rsp = await client.store(what)
            return int(rsp.get("Status"))

    return asyncio.run(go())


def expected_bytes(source: Source, how: str) -> bytes:
    if how == "file":
        return data_set_bytes(source.path)
    syntax = DEFLATED if how == "deflated" else EXPLICIT
    return dataset_to_bytes(dicomkit.read(str(source.path)), syntax)


@pytest.mark.parametrize("max_pdu", ODD_MAX_PDUS)
@pytest.mark.parametrize("how", ["file", "memory", "converted", "deflated"])
@pytest.mark.parametrize("name", ["ct", "enhanced-mr"])
def test_store_to_storescp_offering_an_odd_max_pdu(
        sources: dict[str, Source], proxies: list[OddMaxPduProxy], dcmtk_net: dict[str, str],
        tmp_path: Path, name: str, how: str, max_pdu: int) -> None:
    source = sources[name + ("-implicit" if how == "converted" else "")]
    options = ["+xd"] if how == "deflated" else []
    scp, port, out = storescp(tmp_path, *options)
    try:
        proxy = OddMaxPduProxy(port, max_pdu, rewrite=0x02)
        proxies.append(proxy)
        status = store_with_client(proxy.port, source, how)
        assert status == 0, scp.log()
    finally:
        scp.stop()
    assert "Odd Fragment" not in scp.log()
    lengths = proxy.check("to-acceptor")
    if how != "deflated":  # deflated data sets can fit one fragment
        assert lengths.count(proxy.full) >= 2, lengths  # the data set was cut at the maximum
    assert received(out, source.sop) == expected_bytes(source, how)


@pytest.mark.parametrize("name", ["ct", "enhanced-mr"])
def test_dicomkit_store_cli_to_storescp_with_odd_max_pdu_option(
        sources: dict[str, Source], dcmtk_net: dict[str, str], tmp_path: Path,
        name: str) -> None:
    """storescp ``-pdu 16383`` (DCMTK offers 16382): ``dicomkit store`` as an operator runs
    it."""
    source = sources[name]
    scp, port, out = storescp(tmp_path, "-pdu", "16383")
    try:
        result = subprocess.run(
            [sys.executable, "-m", "dicomkit.cli.main", "store", "127.0.0.1", str(port),
             "--aec", "DEST", str(source.path)], capture_output=True, text=True, timeout=60,
            env=serve_env(), check=False)
        assert result.returncode == 0, result.stderr + scp.log()
    finally:
        scp.stop()
    assert "Odd Fragment" not in scp.log()
    assert received(out, source.sop) == data_set_bytes(source.path)


# -- the archive: C-MOVE, C-GET, C-FIND --------------------------------------------------------
@dataclass
class Archive:
    port: int
    dest_port: int
    tmp: Path


@pytest.fixture(scope="module")
def archive(backend: Backend, module_serve: ServeFactory, sources: dict[str, Source],
            dcmtk_net: dict[str, str], tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Archive]:
    """``dicomkit serve`` holding the CT and the Enhanced MR (sent by ``dicomkit store``, which
    sends the files' data sets as they are: storescu would re-encode them), with one move
    destination DEST whose port a test fills with a proxy in front of storescp."""
    data = tmp_path_factory.mktemp(f"data-{backend.name}")
    dest_port = free_port()
    server = module_serve(data, index=backend.new_index(), peers={"DEST": dest_port})
    result = subprocess.run(
        [sys.executable, "-m", "dicomkit.cli.main", "store", "127.0.0.1", str(server.port),
         "--aec", "PACS", str(sources["ct"].path), str(sources["enhanced-mr"].path)],
        capture_output=True, text=True, timeout=60, env=serve_env(), check=False)
    assert result.returncode == 0, result.stderr + server.log_tail()
    yield Archive(server.port, dest_port, tmp_path_factory.mktemp("archive-tests"))
    assert server.stop() == 0, server.log_tail()


@pytest.mark.parametrize("max_pdu", ODD_MAX_PDUS)
def test_move_sub_operations_to_storescp_offering_an_odd_max_pdu(
        archive: Archive, sources: dict[str, Source], proxies: list[OddMaxPduProxy],
        tmp_path: Path, max_pdu: int) -> None:
    scp, port, out = storescp(tmp_path)
    try:
        proxy = OddMaxPduProxy(port, max_pdu, rewrite=0x02, listen_port=archive.dest_port)
        proxies.append(proxy)
        study_uids = "\\".join(str(dicomkit.read(str(sources[n].path)).StudyInstanceUID)
                               for n in ("ct", "enhanced-mr"))
        result = run_tool("movescu", "-v", "-S", "-aec", "PACS", "-aem", "DEST",
                          "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study_uids}",
                          "127.0.0.1", archive.port)
        assert "Received Final Move Response (Success)" in result.stderr + result.stdout, \
            result.stderr + scp.log()
    finally:
        scp.stop()
    assert "Odd Fragment" not in scp.log()
    assert proxy.check("to-acceptor").count(proxy.full) >= 4
    for name in ("ct", "enhanced-mr"):
        source = sources[name]
        assert received(out, source.sop) == data_set_bytes(source.path), name


@pytest.mark.parametrize("max_pdu", ODD_MAX_PDUS)
def test_get_sub_operations_to_getscu_offering_an_odd_max_pdu(
        archive: Archive, sources: dict[str, Source], proxies: list[OddMaxPduProxy],
        tmp_path: Path, max_pdu: int) -> None:
    proxy = OddMaxPduProxy(archive.port, max_pdu, rewrite=0x01)
    proxies.append(proxy)
    out = tmp_path / "get"
    out.mkdir()
    mr = sources["enhanced-mr"]
    study = str(dicomkit.read(str(mr.path)).StudyInstanceUID)
    result = run_tool("getscu", "-v", "-S", "+B", "-aec", "PACS", "-od", out,
                      "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}",
                      "127.0.0.1", proxy.port)
    output = result.stderr + result.stdout
    assert "Number of Completed Suboperations : 1" in output, output
    assert "Odd Fragment" not in output
    assert proxy.check("to-requestor").count(proxy.full) >= 3
    assert received(out, mr.sop) == data_set_bytes(mr.path)


def test_find_responses_to_findscu_offering_a_tiny_odd_max_pdu(
        archive: Archive, sources: dict[str, Source], proxies: list[OddMaxPduProxy],
        tmp_path: Path) -> None:
    """Max PDU 65: every response command and identifier is cut into many 58-byte
    fragments."""
    proxy = OddMaxPduProxy(archive.port, 65, rewrite=0x01)
    proxies.append(proxy)
    out = tmp_path / "find"
    out.mkdir()
    result = run_tool("findscu", "-v", "-S", "-aec", "PACS", "-X", "-od", out,
                      "-k", "QueryRetrieveLevel=STUDY", "-k", "PatientID=DK-EVEN-1",
                      "-k", "StudyInstanceUID", "-k", "PatientName", "-k", "StudyDate",
                      "-k", "StudyDescription", "127.0.0.1", proxy.port)
    output = result.stderr + result.stdout
    assert "Odd Fragment" not in output
    assert proxy.check("to-requestor").count(proxy.full) >= 3
    found = [dicomkit.read(str(p)) for p in out.glob("rsp*.dcm")]
    study = str(dicomkit.read(str(sources["enhanced-mr"].path)).StudyInstanceUID)
    assert [str(ds.StudyInstanceUID) for ds in found] == [study]
    assert str(found[0].PatientName) == "Fragment^Odd"


def test_store_files_reads_ahead_and_goes_on_after_a_bad_file(
        sources: dict[str, Source], dcmtk_net: dict[str, str], tmp_path: Path) -> None:
    """``Client.store_files``: each file's response or error in order, the next file read
    while the peer answers; a missing file and a file that is not DICOM fail alone; the
    others arrive bit for bit at storescp (-pdu 16383: odd maximum, even fragments)."""
    from dicomkit.errors import DicomError
    from dicomkit.net.association import AssociationError
    from dicomkit.net.client import connect

    ct, mr = sources["ct"], sources["enhanced-mr"]
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not DICOM at all")
    paths = [ct.path, tmp_path / "missing.dcm", junk, mr.path]
    scp, port, out = storescp(tmp_path, "-pdu", "16383")
    try:
        async def go() -> list[tuple[str, Any]]:
            async with connect("127.0.0.1", port, calling_aet="DKTEST", called_aet="DEST",
                               contexts=[(ct.sop_class, [EXPLICIT]),
                                         (mr.sop_class, [EXPLICIT])]) as client:
                return [item async for item in client.store_files(paths)]

        results = asyncio.run(go())
    finally:
        scp.stop()
    assert [path for path, _ in results] == [str(p) for p in paths]
    assert int(results[0][1].get("Status")) == 0
    assert isinstance(results[1][1], FileNotFoundError)
    assert isinstance(results[2][1], (DicomError, OSError, AssociationError))
    assert int(results[3][1].get("Status")) == 0
    assert "Odd Fragment" not in scp.log()
    assert received(out, ct.sop) == data_set_bytes(ct.path)
    assert received(out, mr.sop) == data_set_bytes(mr.path)
