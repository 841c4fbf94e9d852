"""STOW-RS bodies as they stream (web/stow.py, web/media.py): parts committed while the next
ones arrive (in part order in the response), and hostile multipart bodies refused with a
reason naming what is wrong. (Bounded memory of big uploads: tests/interop/test_deflate_bomb.)"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from dicomkit import write
from dicomkit.archive.store import Archive
from dicomkit.core.uid import generate_uid
from dicomkit.web.app import create_app
from dicomkit.web.server import HttpServer
from tests.support.datasets import make_instance

BOUNDARY = "stow-stream-boundary-0123456789"
CONTENT_TYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
REFERENCED, FAILED = "00081199", "00081198"


def _instance(folder: Path, study: str, number: int, pixels: int = 4) -> bytes:
    ds = make_instance(study_uid=study, series_uid=study + ".1", number=number,
                       InstanceNumber=str(number), Rows=pixels, Columns=pixels)
    ds.PixelData = np.full((pixels, pixels), number, dtype=np.uint16).tobytes()
    path = folder / f"{number}.dcm"
    write(ds, path)
    return path.read_bytes()


def _part(data: bytes) -> bytes:
    return f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + data + b"\r\n"


def _close() -> bytes:
    return f"--{BOUNDARY}--\r\n".encode()


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[Archive]:
    archive = Archive(str(tmp_path / "data"), None, fsync=False)
    yield archive
    archive.close()


def _post(archive: Archive, content: Any, content_type: str = CONTENT_TYPE,
          path: str = "/dicom-web/studies") -> httpx.Response:
    async def run() -> httpx.Response:
        server = HttpServer(create_app(archive), "127.0.0.1", 0)
        await server.start()
        try:
            async with httpx.AsyncClient(timeout=60) as http:
                return await http.post(
                    f"http://127.0.0.1:{server.port}{path}", content=content,
                    headers={"Content-Type": content_type, "Accept": "application/dicom+json"})
        finally:
            await server.stop()
    return asyncio.run(run())


def _uids(answer: dict[str, Any], key: str) -> list[str]:
    return [item["00081155"]["Value"][0] for item in answer.get(key, {}).get("Value", [])]


def test_outcomes_in_part_order_with_a_bad_part_among_pipelined_commits(
        archive: Archive, tmp_path: Path) -> None:
    study = generate_uid()
    files = [_instance(tmp_path, study, n) for n in range(1, 8)]
    parts = [_part(f) for f in files[:3]] + [_part(b"not DICOM at all")] + \
        [_part(f) for f in files[3:]]
    response = _post(archive, b"".join(parts) + _close())
    assert response.status_code == 202, response.text
    answer = response.json()
    from dicomkit import read
    expected = [str(read(f).SOPInstanceUID) for f in files]
    assert _uids(answer, REFERENCED) == expected
    assert len(answer[FAILED]["Value"]) == 1
    stored = {r.sop_uid: Path(archive.absolute(r.path)).read_bytes()
              for r in archive.index.instances_of([])}
    assert [stored[uid] for uid in expected] == files


async def _chunks(body: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for at in range(0, len(body), size):
        yield body[at:at + size]


@pytest.mark.parametrize(("content_type", "body", "reason"), [
    ('multipart/related; type="application/dicom"', b"--x\r\n\r\n--x--\r\n",
     "without a boundary parameter"),
    (f'multipart/related; type="application/dicom"; boundary={"b" * 201}', b"",
     "missing or oversized boundary"),
    (CONTENT_TYPE, _part(b"x")[:-2] + random.Random(18).randbytes(5000), "ends before the close delimiter"),
    (CONTENT_TYPE, f"--{BOUNDARY}\r\nX-Long: ".encode() + b"a" * 20000 + b"\r\n\r\nbody\r\n"
     + _close(), "part headers over 16 KiB"),
    (CONTENT_TYPE, f"--{BOUNDARY}".encode() + b" " * 2000 + b"\r\n\r\nx\r\n" + _close(),
     "endless white space after a delimiter"),
    (CONTENT_TYPE, f"--{BOUNDARY}\r\nno colon here\r\n\r\nx\r\n".encode() + _close(),
     "bad part header line"),
    ("application/dicom", b"DICM", "STOW-RS takes multipart/related"),
], ids=lambda value: "" if isinstance(value, bytes) or value.startswith(("multipart/",
   "application/")) else value)
def test_hostile_bodies_are_refused_with_the_reason(archive: Archive, content_type: str,
                                                    body: bytes, reason: str) -> None:
    response = _post(archive, _chunks(body, 1000), content_type)
    assert response.status_code in (400, 415), response.text
    assert reason in response.json()["reason"], response.text
    assert archive.index.instances_of([]) == []


def test_a_cut_body_keeps_the_parts_before_the_cut(archive: Archive, tmp_path: Path) -> None:
    """The parts complete before the body broke off are committed (each one's outcome was
    decided when it ended); the answer is the 400 that names the cut."""
    study = generate_uid()
    files = [_instance(tmp_path, study, n) for n in (1, 2, 3)]
    body = b"".join(_part(f) for f in files) + _part(b"half a part")[:-10]
    response = _post(archive, _chunks(body, 4096))
    assert response.status_code == 400
    assert "ends before the close delimiter" in response.json()["reason"]
    assert len(archive.index.instances_of([])) == 3


def test_parts_gathered_in_one_transaction_keep_their_own_outcomes(
        archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts gathered while commits run go into one index transaction
    (ArchiveIndex.add_instances); a bad part among them, a part of another study and a part
    whose row cannot be written each get their own FailedSOPSequence entry (the transaction
    that failed redone one row at a time), their neighbours are stored."""
    import dicomkit.web.stow as stow
    from dicomkit import read
    from dicomkit.archive.index import ArchiveIndex

    monkeypatch.setattr(stow, "BATCHES_AHEAD", 0)  # every part gathered until the end
    sizes: list[int] = []
    real_many, real_one = ArchiveIndex.add_instances, ArchiveIndex._add_instance
    study = generate_uid()
    files = [_instance(tmp_path, study, n) for n in range(1, 11)]
    unwritable = str(read(files[6]).SOPInstanceUID)

    def many(index: ArchiveIndex, records: Any, policy: str = "replace") -> Any:
        sizes.append(len(records))
        return real_many(index, records, policy)

    def one(index: ArchiveIndex, connection: Any, record: Any, *args: Any) -> Any:
        if record.sop_uid == unwritable:
            raise RuntimeError("this row cannot be written")
        return real_one(index, connection, record, *args)

    monkeypatch.setattr(ArchiveIndex, "add_instances", many)
    monkeypatch.setattr(ArchiveIndex, "_add_instance", one)
    other = tmp_path / "other"
    other.mkdir()
    elsewhere = _instance(other, generate_uid(), 99)
    parts = [_part(f) for f in files[:3]] + [_part(b"not DICOM at all")] + \
        [_part(f) for f in files[3:6]] + [_part(elsewhere)] + [_part(f) for f in files[6:]]
    response = _post(archive, b"".join(parts) + _close(), path=f"/dicom-web/studies/{study}")
    assert response.status_code == 202, response.text
    answer = response.json()
    expected = [str(read(f).SOPInstanceUID) for f in files]
    assert _uids(answer, REFERENCED) == [uid for uid in expected if uid != unwritable]
    failed = answer[FAILED]["Value"]
    assert [item["00081197"]["Value"][0] for item in failed] == [0xC000, 0xC409, 0x0110]
    assert failed[2]["00081155"]["Value"][0] == unwritable
    assert sizes == [10]  # the ten parts of the study, one transaction (it failed)
    stored = {r.sop_uid for r in archive.index.instances_of([])}
    assert stored == set(expected) - {unwritable}


