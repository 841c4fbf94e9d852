"""DICOMweb for the tests: ``dicomkit serve --http-port`` on free ports (``start_web``), the
archive the ``web`` fixture loads (``WebArchive``), STOW-RS and multipart/related bodies.

The ``web`` archive is loaded over DIMSE with the study set (pydicom's CT_small.dcm and
MR_small.dcm, a synthetic 5-instance CT series) and over STOW-RS with a multi-frame RT Dose
(rtdose.dcm, 15 frames, implicit VR) and an RLE-compressed 2-frame colour image
(SC_rgb_rle_2frame.dcm), so native, implicit VR and compressed frames are all there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.datasets import StudySet, describe_instance
from tests.support.servers import Serve, ServeFactory, free_port, wait_for_port

STOWED = ("rtdose.dcm", "SC_rgb_rle_2frame.dcm")


@dataclass
class WebArchive:
    server: Serve
    http_port: int
    study_set: StudySet
    stowed: dict[str, Path] = field(default_factory=dict)  # file name -> path

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/dicom-web"

    def http(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.root, timeout=30, **kwargs)

    def client(self) -> Any:
        from dicomweb_client.api import DICOMwebClient

        return DICOMwebClient(self.root)

    def instance(self, name: str) -> Any:
        path = self.stowed.get(name) or self.study_set.folder / name
        return describe_instance(path)

    def instance_url(self, name: str) -> str:
        i = self.instance(name)
        return f"/studies/{i.study}/series/{i.series}/instances/{i.sop}"


def multipart_body(parts: list[bytes], part_type: str = "application/dicom"
                   ) -> tuple[bytes, str]:
    boundary = "dicomkit-test-boundary-0123456789"
    body = b"".join(b"--" + boundary.encode() + b"\r\nContent-Type: " + part_type.encode()
                    + b"\r\n\r\n" + part + b"\r\n" for part in parts)
    body += b"--" + boundary.encode() + b"--\r\n"
    return body, f'multipart/related; type="{part_type}"; boundary={boundary}'


def stow(root: str, paths: list[Path], study: str | None = None) -> httpx.Response:
    body, content_type = multipart_body([p.read_bytes() for p in paths])
    url = f"{root}/studies" + (f"/{study}" if study else "")
    return httpx.post(url, content=body, headers={"Content-Type": content_type,
                                                  "Accept": "application/dicom+json"},
                      timeout=60)


def start_web(module_serve: ServeFactory, data: Path, index: str | None,
              *extra: str) -> tuple[Serve, int]:
    http_port = free_port()
    server = module_serve(data, index=index,
                          args=["--http-port", str(http_port), "--no-fsync", *extra])
    wait_for_port(http_port, server.proc, describe=server.describe)
    return server, http_port


def dataset_bytes(blob: bytes) -> bytes:
    """The data set of a PS3.10 file: after the preamble, DICM and the File Meta Information
    (whose Group Length, always first, gives its size)."""
    import struct

    pos = 132 if blob[128:132] == b"DICM" else 0
    assert blob[pos:pos + 8] == b"\x02\x00\x00\x00UL\x04\x00", "no File Meta Group Length"
    (length,) = struct.unpack_from("<L", blob, pos + 8)
    return blob[pos + 12 + length:]


def parse_multipart(response: httpx.Response) -> list[tuple[dict[str, str], bytes]]:
    """The parts of a multipart/related response: (headers, content)."""
    from dicomkit.web.media import MultipartParser, Part, parse_media_type

    kind, params = parse_media_type(response.headers["content-type"])
    assert kind == "multipart/related", response.headers["content-type"]
    parser = MultipartParser(params["boundary"])
    parts: list[tuple[dict[str, str], bytes]] = []
    current: list[bytes] = []
    headers: dict[str, str] = {}
    for event, value in parser.feed(response.content):
        if event == "part":
            assert isinstance(value, Part)
            headers, current = value.headers, []
        elif event == "data":
            current.append(value)  # type: ignore[arg-type]
        elif event == "end":
            parts.append((headers, b"".join(current)))
    parser.close()
    return parts
